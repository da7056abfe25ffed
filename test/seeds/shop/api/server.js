// The shop's API: reports its release; /health for the healthcheck.
const http = require('node:http');

const release = process.env.RELEASE ?? 'unknown';
http
  .createServer((req, res) => {
    if (req.url === '/health') return res.writeHead(200).end('ok\n');
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ service: 'shop-api', release }) + '\n');
  })
  .listen(8000, '0.0.0.0');
process.on('SIGTERM', () => process.exit(0));
