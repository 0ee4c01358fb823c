const n: number = "not a number"; // a type error: deploys with a warning
export default {
  async fetch(request: Request): Promise<Response> {
    return new Response("ts " + n);
  },
};
