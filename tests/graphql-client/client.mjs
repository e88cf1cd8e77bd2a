// A regulator's client built from npm's GraphQL libraries, not ours:
// graphql-request for queries over HTTP, graphql-ws for subscriptions over
// WebSocket. tests/api.rs runs it against the demo:
//
//   LOOKTHROUGH_URL=http://127.0.0.1:8080/graphql LOOKTHROUGH_TOKEN=lt_… node client.mjs
//
// It prints one JSON object: the query's answer, and the first BLOCKS
// blocks the subscription pushed. Any error exits 1 with the message.
import { GraphQLClient, gql } from "graphql-request";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const url = process.env.LOOKTHROUGH_URL;
const token = process.env.LOOKTHROUGH_TOKEN;
const wanted = Number(process.env.BLOCKS ?? "3");
if (!url || !token) {
  console.error("set LOOKTHROUGH_URL and LOOKTHROUGH_TOKEN");
  process.exit(2);
}

const http = new GraphQLClient(url, {
  headers: { authorization: `Bearer ${token}` },
});
const query = await http.request(gql`
  query Overview($first: Int!) {
    me { role }
    chain { head indexedHeight }
    transactions(first: $first, order: { field: CHAIN, direction: ASC }) {
      totalCount
      edges { cursor node { hash height index } }
    }
  }
`, { first: 5 });

let refused = null;
try {
  await new GraphQLClient(url, {
    headers: { authorization: "Bearer lt_0000000000000000_wrong" },
  }).request(gql`{ me { role } }`);
} catch (e) {
  refused = e.response?.status ?? String(e);
}

const ws = createClient({
  url: url.replace(/^http/, "ws"),
  webSocketImpl: WebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
});
const from = (query.chain.head ?? -1) + 1;
const blocks = [];
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no blocks within 60 s")), 60_000);
  const stop = ws.subscribe(
    { query: `subscription($from: Int) { blocks(fromHeight: $from) { height hash } }`, variables: { from } },
    {
      next: (msg) => {
        // Blocks that arrive before the unsubscription takes effect are
        // past what was asked for.
        if (blocks.length >= wanted) return;
        if (msg.errors) {
          reject(new Error(JSON.stringify(msg.errors)));
          return;
        }
        blocks.push(msg.data.blocks);
        if (blocks.length >= wanted) {
          clearTimeout(timer);
          stop();
          resolve();
        }
      },
      error: (e) => reject(e instanceof Error ? e : new Error(JSON.stringify(e))),
      complete: () => {},
    },
  );
});
await ws.dispose();

console.log(JSON.stringify({ query, refused, from, blocks }));
