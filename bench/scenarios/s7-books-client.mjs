// S7 load client (plain Node, no TypeScript, run as a child process): opens N WebSocket
// connections to a tickgate stream URL, subscribes each to the book topics at a maxRate, and
// counts frames and bytes received. Commands on stdin: "report" prints one JSON line of counts
// ({frames, bytes, connected}); "exit" closes everything and exits.
import WebSocket from 'ws';

const [url, countText, topicsText, rateText] = process.argv.slice(2);
const count = Number(countText);
const topics = topicsText.split(',');
const maxRate = Number(rateText);
let frames = 0;
let bytes = 0;
let subscribed = 0;
const sockets = [];

function open(i) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => {
      ws.send(JSON.stringify({ op: 'subscribe', id: i, topics, maxRate }));
    });
    ws.on('message', (data) => {
      frames++;
      bytes += data.length;
      // The ack is a small map with "t":"ack"; count subscriptions once each.
      if (data.length < 512 && data.includes('ack')) {
        subscribed++;
        resolve();
      }
    });
    ws.on('error', reject);
    ws.on('close', (code) => reject(new Error(`connection ${i} closed (${code}) before its ack`)));
    sockets.push(ws);
  });
}

try {
  for (let i = 0; i < count; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, k) => open(i + k)));
  }
} catch (err) {
  process.stderr.write(`s7 client: ${err.message}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify({ ready: true, connected: subscribed })}\n`);

let buffer = '';
process.stdin.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const line = buffer.slice(0, nl).trim();
    buffer = buffer.slice(nl + 1);
    if (line === 'report') process.stdout.write(`${JSON.stringify({ frames, bytes, connected: subscribed })}\n`);
    if (line === 'exit') {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  }
});
