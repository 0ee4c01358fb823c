// Tries every way of confusing an exact-host allowlist; reports which fetches were refused.
const urls = [
  "https://169.254.169.254/latest/meta-data/iam/security-credentials/",
  "https://metadata.google.internal/computeMetadata/v1/",
  "https://10.0.0.1/",
  "https://127.0.0.1/",
  "https://[::1]/",
  "https://[::ffff:169.254.169.254]/",
  "https://0x7f000001/",
  "https://2130706433/",
  "https://api.example.com@evil.example/",
  "https://user:pass@api.example.com/",
  "https://evil.example#@api.example.com/",
  "https://api.example.com:444/",
  "https://api.example.com./",
  "https://api.example.com.evil.example/",
  "https://\u0430pi.example.com/",
  "https://xn--pi-7kc.example.com/",
  "http://api.example.com/",
  "ftp://api.example.com/",
  "https://api.example.com\\@evil.example/",
  "https://evil.example/?https://api.example.com/",
  // allowed:
  "https://api.example.com/ok",
  "https://API.Example.COM/ok-case",
  "https://api.example.com:443/ok-port",
];
export default {
  async fetch() {
    const out = {};
    for (const u of urls) {
      try {
        const r = await fetch(u);
        out[u] = "allowed " + r.status;
      } catch (e) {
        out[u] = "denied";
      }
    }
    return Response.json(out);
  },
};
