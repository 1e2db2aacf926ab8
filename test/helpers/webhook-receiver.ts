import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { verifySignature } from "../../src/engine/adapters/alerts/signature.js";

export interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
  signatureValid: boolean | null;
}

/** A real HTTP receiver on 127.0.0.1 that checks signatures and can fail on demand. */
export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Answer the next N requests with this status instead of 200. */
  failNext = 0;
  failStatus = 503;
  private server: Server | null = null;
  url = "";

  constructor(private readonly secret: string | null = null) {}

  async start(port = 0): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (this.failNext > 0) {
          this.failNext--;
          res.writeHead(this.failStatus).end();
          return;
        }
        const body = Buffer.concat(chunks).toString("utf8");
        const sig = req.headers["limitr-signature"];
        const signatureValid =
          this.secret === null || typeof sig !== "string"
            ? null
            : verifySignature(this.secret, body, sig, Math.floor(Date.now() / 1000));
        this.received.push({ headers: req.headers, body, signatureValid });
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, "127.0.0.1", resolve));
    const { port: actual } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${actual}/hook`;
    return this.url;
  }

  port(): number {
    return Number(new URL(this.url).port);
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
