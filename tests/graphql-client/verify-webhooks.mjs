// Verifies webhook deliveries with the Standard Webhooks reference library
// (npm's standardwebhooks), as a receiver of lookthrough's alerts would.
// Reads {"secret": "whsec_…", "deliveries": [{"id", "timestamp",
// "signature", "body"}]} on stdin; prints, for each delivery, whether it
// verifies as received and whether a copy with a changed body does.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const wh = new Webhook(secret);
const verifies = (d, body) => {
  try {
    wh.verify(body, {
      "webhook-id": d.id,
      "webhook-timestamp": d.timestamp,
      "webhook-signature": d.signature,
    });
    return true;
  } catch {
    return false;
  }
};
const results = deliveries.map((d) => ({
  id: d.id,
  genuine: verifies(d, d.body),
  tampered: verifies(d, d.body.replace('"severity":"', '"severity":"x')),
}));
console.log(JSON.stringify(results));
