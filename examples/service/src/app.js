import Fastify from "fastify";
import { complete, estimateTokens } from "./fake-llm.js";
import { usageHtml, usageReport } from "./usage-page.js";

/** A quota the customer can buy more of is 402, a rate to slow down for is 429, anything else the plan lacks is 403. */
const STATUS_OF_REASON = { limit_exceeded: 402, rate_limited: 429, invalid_amount: 400 };

const customerId = { type: "string", minLength: 1, maxLength: 200 };

const chatSchema = {
  body: {
    type: "object",
    required: ["prompt"],
    additionalProperties: false,
    properties: {
      customer: customerId,
      prompt: { type: "string", minLength: 1 },
      model: { type: "string", enum: ["gpt-4o", "gpt-4o-mini", "claude-sonnet"], default: "gpt-4o-mini" },
      max_tokens: { type: "integer", minimum: 1, maximum: 16_384, default: 256 },
    },
  },
};

const searchSchema = {
  querystring: {
    type: "object",
    required: ["q"],
    properties: { q: { type: "string", minLength: 1, maxLength: 500 }, customer: customerId },
  },
};

const usageSchema = {
  params: { type: "object", properties: { customer: customerId } },
  querystring: { type: "object", properties: { format: { type: "string", enum: ["json", "html"] } } },
};

const iso = (ms) => (ms === null ? null : new Date(ms).toISOString());

/** In a real service the customer comes from the authenticated API key; here, a header or the request itself. */
function customerOf(request) {
  return request.headers["x-customer-id"] || request.body?.customer || request.query?.customer || null;
}

function missingCustomer(reply) {
  return reply.code(400).send({
    error: "missing_customer",
    message: "name the customer in the x-customer-id header (or the body's or query's customer field)",
  });
}

/** A denied Decision as an HTTP answer: the reason, the counter, and when it resets. */
function deny(reply, entitlement, d) {
  if (d.reason === "rate_limited") reply.header("retry-after", "1");
  return reply.code(STATUS_OF_REASON[d.reason] ?? 403).send({
    error: d.reason,
    reason: d.reason,
    entitlement,
    used: d.used,
    limit: d.limit,
    remaining: d.remaining,
    resetsAt: iso(d.resetsAt),
  });
}

/** The service's routes over an open engine. Closing the engine is the caller's (it opened it). */
export function buildApp(limitr) {
  const app = Fastify({ logger: false, bodyLimit: 4 * 1024 * 1024 });

  // Check -> Call -> Record: the size of an LLM call is known only once it is done.
  app.post("/chat", { schema: chatSchema }, async (request, reply) => {
    const customer = customerOf(request);
    if (!customer) return missingCustomer(reply);
    const { prompt, model, max_tokens: maxTokens } = request.body;

    // Check: would the plan take the prompt as estimated, and the longest answer asked for? Counts nothing.
    const wanted = [
      ["chat_input", estimateTokens(prompt)],
      ["chat_output", maxTokens],
    ];
    for (const [entitlement, amount] of wanted) {
      const d = limitr.check(customer, entitlement, amount);
      if (!d.allowed) return deny(reply, entitlement, d);
    }

    // Call: the model provider (a deterministic stand-in here).
    const completion = await complete({ model, prompt, maxTokens });

    // Record: the tokens actually used. One event counts toward chat_input and chat_output,
    // past a limit too (the work was done); the completion id makes a retried record count once.
    const recorded = limitr.record({
      id: completion.id,
      type: "llm.completion",
      customer,
      properties: {
        model,
        input_tokens: completion.usage.input,
        output_tokens: completion.usage.output,
      },
    });
    return {
      id: completion.id,
      model,
      text: completion.text,
      usage: { input_tokens: completion.usage.input, output_tokens: completion.usage.output },
      counted: recorded.counted,
    };
  });

  // A plain API call: gated and metered in one synchronous call, nothing to record afterwards.
  app.get("/search", { schema: searchSchema }, async (request, reply) => {
    const customer = customerOf(request);
    if (!customer) return missingCustomer(reply);
    if (!limitr.allow(customer, "api")) return reply.code(429).send({ error: "api_limit_reached" });
    const { q } = request.query;
    return {
      query: q,
      results: [1, 2, 3].map((rank) => ({
        rank,
        title: `${q}: result ${rank}`,
        url: `https://search.example/${encodeURIComponent(q)}/${rank}`,
      })),
    };
  });

  // What the customer has used this period, per entitlement; JSON, or HTML for a browser.
  app.get("/usage/:customer", { schema: usageSchema }, async (request, reply) => {
    const report = usageReport(limitr, request.params.customer);
    const html = request.query.format
      ? request.query.format === "html"
      : (request.headers.accept ?? "").includes("text/html");
    if (!html) return report;
    return reply.type("text/html; charset=utf-8").send(usageHtml(report));
  });

  return app;
}
