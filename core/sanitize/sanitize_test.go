package sanitize

import (
	"strings"
	"testing"
)

func TestDefaultPolicyKeepsFormattingDropsScript(t *testing.T) {
	s := NewSet()
	cases := []struct{ in, want string }{
		{`<p>Hello <b>world</b></p>`, `<p>Hello <b>world</b></p>`},
		{`<a href="https://example.com/x">x</a>`, `<a href="https://example.com/x" rel="nofollow">x</a>`},
		{`<a href="javascript:alert(1)">x</a>`, `<a>x</a>`},
		{`<a href=" jAvAsCrIpT:alert(1)">x</a>`, `<a>x</a>`},
		{`<img src=x onerror=alert(1)>`, `<img src="x">`},
		{`<img src="data:image/svg+xml;base64,PHN2Zz4=">`, `<img>`},
		{`<script>alert(1)</script>ok`, `ok`},
		{`<svg><script>alert(1)</script></svg>`, ``},
		{`<td colspan="2" onclick="x">`, `<td colspan="2">`},
		{`<table><tr><td colspan="2x">a</td><td colspan="3">b</td></tr></table>`, `<table><tr><td>a</td><td colspan="3">b</td></tr></table>`},
		{`<p dir="rtl" lang="en-GB" style="x">t</p>`, `<p dir="rtl" lang="en-GB">t</p>`},
	}
	for _, c := range cases {
		got, err := s.Sanitize(c.in, "")
		if err != nil {
			t.Fatal(err)
		}
		if got != c.want {
			t.Errorf("Sanitize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEscapeModeShowsUnknownTagsAsText(t *testing.T) {
	s := NewSet()
	w := Whitelist{Tags: map[string][]string{"b": nil, "a": {"href"}}, URLSchemes: []string{"https"}, UnknownTags: "escape"}
	if err := s.Put("comments", w); err != nil {
		t.Fatal(err)
	}
	got, err := s.Sanitize(`<b>hi</b><script>alert("<img src=x onerror=alert(1)>")</script><a href="javascript:x" onclick="y">l</a><!--c-->`, "comments")
	if err != nil {
		t.Fatal(err)
	}
	want := `<b>hi</b>&lt;script&gt;alert(&#34;&lt;img src=x onerror=alert(1)&gt;&#34;)&lt;/script&gt;<a>l</a>&lt;!--c--&gt;`
	if got != want {
		t.Errorf("escape mode:\n got %q\nwant %q", got, want)
	}
	if _, err := s.Sanitize("x", "nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown policy: err = %v, want it named", err)
	}
}

func TestMalformedPoliciesAreRefusedNamingTheField(t *testing.T) {
	cases := []struct {
		name, json string
		want       []string
	}{
		{"script tag", `{"tags":{"p":[],"script":[]}}`, []string{`tags.script`, `<script>`}},
		{"handler", `{"tags":{"img":["src","onerror"]}}`, []string{`tags.img`, `"onerror"`, "event handler"}},
		{"style", `{"tags":{"p":["style"]}}`, []string{`tags.p`, `"style"`}},
		{"unchecked url", `{"tags":{"video":["poster"]}}`, []string{`tags.video`, `"poster"`}},
		{"global url", `{"tags":{"a":[]},"global_attributes":["href"]}`, []string{"global_attributes", `"href"`}},
		{"js scheme", `{"tags":{"a":["href"]},"url_schemes":["https","javascript"]}`, []string{"url_schemes[1]", `"javascript"`}},
		{"scheme colon", `{"tags":{"a":["href"]},"url_schemes":["https:"]}`, []string{"url_schemes[0]", `"https:"`}},
		{"bad regexp", `{"tags":{"td":["colspan"]},"values":{"td.colspan":"[0-9"}}`, []string{`values["td.colspan"]`, "regular expression"}},
		{"value for unlisted", `{"tags":{"td":[]},"values":{"td.colspan":"[0-9]+"}}`, []string{`values["td.colspan"]`, `"colspan"`, "<td>"}},
		{"unknown mode", `{"tags":{"p":[]},"unknown_tags":"drop"}`, []string{"unknown_tags", `"drop"`}},
		{"unknown key", `{"tags":{"p":[]},"allow_scripts":true}`, []string{"allow_scripts"}},
		{"syntax", `{"tags":{"p":[]`, []string{"html policy"}},
		{"empty", `{"tags":{}}`, []string{"tags", "no tag"}},
		{"upper", `{"tags":{"P":[]}}`, []string{"tags.P"}},
	}
	for _, c := range cases {
		_, err := ParseJSON("user", []byte(c.json))
		if err == nil {
			t.Errorf("%s: accepted %s", c.name, c.json)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not name %q", c.name, err, w)
			}
		}
		if !strings.Contains(err.Error(), `"user"`) {
			t.Errorf("%s: error %q does not name the policy", c.name, err)
		}
	}
	// A refused Put leaves the set unchanged.
	s := NewSet()
	if err := s.Put(DefaultName, Whitelist{Tags: map[string][]string{"script": nil}}); err == nil {
		t.Fatal("Put accepted a script tag")
	}
	if got, _ := s.Sanitize("<b>x</b>", ""); got != "<b>x</b>" {
		t.Errorf("default policy changed after refused Put: %q", got)
	}
}

func TestTOMLWhitelist(t *testing.T) {
	w, err := ParseTOML("forum", []byte(`
url_schemes = ["https"]
unknown_tags = "escape"
[tags]
a = ["href"]
em = []
[values]
"a.href" = "https://example\\.org/.*"
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Compile("forum", w)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Sanitize(`<a href="https://evil.test/">x</a><a href="https://example.org/a">y</a><u>z</u>`); got != `<a>x</a><a href="https://example.org/a">y</a>&lt;u&gt;z&lt;/u&gt;` {
		t.Errorf("got %q", got)
	}
	_, err = ParseTOML("forum", []byte("[tags]\na = [\"href\"]\n[tagz]\nb = []\n"))
	if err == nil || !strings.Contains(err.Error(), "tagz") {
		t.Errorf("unknown TOML key: err = %v", err)
	}
}

func TestPolicyJSONRoundTrip(t *testing.T) {
	s := NewSet()
	doc, err := s.GetJSON("")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutJSON("copy", doc); err != nil {
		t.Fatalf("default policy does not round-trip: %v\n%s", err, doc)
	}
	in := `<p dir=rtl>x<a href="https://e.test/">l</a><img src=x onerror=alert(1)></p>`
	a, _ := s.Sanitize(in, "")
	b, _ := s.Sanitize(in, "copy")
	if a != b {
		t.Errorf("round-tripped policy differs: %q vs %q", a, b)
	}
	if err := s.PutJSON("copy", []byte(`{"tags":{"iframe":["src"]}}`)); err == nil || !strings.Contains(err.Error(), "tags.iframe") {
		t.Errorf("bad PutJSON: %v", err)
	}
	if b2, _ := s.Sanitize(in, "copy"); b2 != b {
		t.Error("refused PutJSON changed the stored policy")
	}
}
