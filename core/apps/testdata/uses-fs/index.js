const fs = require("fs");
export default {
  async fetch() { return new Response(fs.readFileSync("/etc/passwd", "utf8")); },
};
