export default {
  async fetch() { throw new Error("this version cannot answer"); },
};
