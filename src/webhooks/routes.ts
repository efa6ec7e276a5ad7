/**
 * Provider webhooks: Twilio status callbacks and inbound messages (opt-outs), Dialpad SMS
 * events. Every request is verified before anything is read from it: a missing or wrong
 * signature gets 403 and changes nothing. These routes take no API key; the signature is the
 * credential.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Account, DialpadAccount, TwilioAccount } from "../config/accounts.js";
import { SmsqError } from "../errors.js";
import type { Logger } from "../log.js";
import { toE164 } from "../messages/phone.js";
import { dialpadReceipt } from "../providers/dialpad-status.js";
import { twilioOptOutCode, twilioReceipt } from "../providers/twilio-status.js";
import type { Db } from "../store/db.js";
import { applyReceipts, type Receipt } from "../store/receipts.js";
import { ReceiptBatcher } from "./batcher.js";
import { addSuppression, removeSuppression } from "../store/suppressions.js";
import { verifyDialpadJwt } from "./dialpad-jwt.js";
import { verifyTwilioSignature } from "./twilio-signature.js";

export interface WebhookDeps {
  db: Db;
  log: Logger;
  accounts: readonly Account[];
  publicUrl: string | null;
  defaultRegion: string;
}

/** Counters for metrics: webhook requests by outcome. */
export interface WebhookStats {
  accepted: number;
  rejected: Record<string, number>;
  receipts: {
    applied: number;
    duplicates: number;
    ignored: number;
    held: number;
    /** Receipts received, by provider, then by the status they report. */
    byStatus: Record<string, Record<string, number>>;
  };
}

// Twilio's opt-out keywords (single-word messages only), and the opt-in ones that undo them.
const STOP_WORDS = new Set([
  "STOP",
  "STOPALL",
  "UNSUBSCRIBE",
  "CANCEL",
  "END",
  "QUIT",
  "REVOKE",
  "OPTOUT",
]);
const START_WORDS = new Set(["START", "UNSTOP", "YES"]);

type Params = Record<string, string | string[]>;

const first = (v: string | string[] | undefined): string | undefined =>
  Array.isArray(v) ? v[0] : v;

/** Registers the webhook routes; returns their counters. */
export function webhookRoutes(app: FastifyInstance, deps: WebhookDeps): WebhookStats {
  const stats: WebhookStats = {
    accepted: 0,
    rejected: {},
    receipts: { applied: 0, duplicates: 0, ignored: 0, held: 0, byStatus: {} },
  };
  const twilio = deps.accounts.filter((a): a is TwilioAccount => a.kind === "twilio");
  const dialpad = deps.accounts.filter((a): a is DialpadAccount => a.kind === "dialpad");

  const reject = (reason: string, message: string): never => {
    stats.rejected[reason] = (stats.rejected[reason] ?? 0) + 1;
    deps.log.warn({ reason }, "webhook rejected");
    throw new SmsqError("forbidden", message);
  };

  // Concurrent callbacks share one statement; each is answered once its batch has committed.
  const batcher = new ReceiptBatcher((receipts) => applyReceipts(deps.db, receipts), {
    maxBatch: 200,
    onApplied: (res) => {
      stats.receipts.applied += res.applied;
      stats.receipts.duplicates += res.duplicates;
      stats.receipts.ignored += res.ignored;
      stats.receipts.held += res.unmatched.length;
    },
  });
  const apply = async (receipts: Receipt[]) => {
    for (const r of receipts) {
      const p = (stats.receipts.byStatus[r.provider] ??= {});
      p[r.status] = (p[r.status] ?? 0) + 1;
    }
    await batcher.apply(receipts);
  };

  /** The URL Twilio signed: the public URL of this route, with its query string. */
  const signedUrl = (req: FastifyRequest) =>
    (deps.publicUrl ?? `${req.protocol}://${req.host}`) + req.url;

  /** Verifies a Twilio request against the auth token of the account it names. */
  const verifyTwilio = (req: FastifyRequest): Params => {
    const params = (req.body ?? {}) as Params;
    const sid = first(params.AccountSid);
    const account = twilio.find((a) => a.accountSid === sid);
    if (!account || !account.authToken) return reject("unknown_account", "unknown Twilio account");
    const signature = first(req.headers["x-twilio-signature"] as string | string[] | undefined);
    if (!verifyTwilioSignature(account.authToken, signedUrl(req), params, signature)) {
      return reject(
        signature ? "bad_signature" : "missing_signature",
        "invalid X-Twilio-Signature",
      );
    }
    return params;
  };

  app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_req, body, done) => {
        // No prototype: a parameter named "__proto__" or "constructor" is just a parameter.
        const out: Params = Object.create(null) as Params;
        for (const [k, v] of new URLSearchParams(body as string)) {
          const prev = out[k];
          out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
        }
        done(null, out);
      },
    );

    scope.post("/v1/webhooks/twilio/status", { schema: { hide: true } }, async (req, reply) => {
      const params = verifyTwilio(req);
      const flat = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, first(v) ?? ""]));
      const receipt = twilioReceipt(flat);
      if (receipt) {
        if (twilioOptOutCode(receipt.errorCode ?? null)) receipt.optOut = true;
        await apply([receipt]);
      }
      stats.accepted += 1;
      return reply.status(204).send();
    });

    scope.post("/v1/webhooks/twilio/inbound", { schema: { hide: true } }, async (req, reply) => {
      const params = verifyTwilio(req);
      stats.accepted += 1;
      const from = toE164(first(params.From) ?? "", deps.defaultRegion);
      const word = (first(params.Body) ?? "").trim().toUpperCase();
      // Advanced Opt-Out sends its own verdict; otherwise the standard single keywords.
      const type = (first(params.OptOutType) ?? "").toUpperCase();
      if (from && (type === "STOP" || (type === "" && STOP_WORDS.has(word)))) {
        await addSuppression(deps.db, from, `inbound ${word || type}`, "twilio-inbound");
        deps.log.info("recipient opted out by keyword");
      } else if (from && (type === "START" || (type === "" && START_WORDS.has(word)))) {
        await removeSuppression(deps.db, from);
        deps.log.info("recipient opted back in by keyword");
      }
      // An empty TwiML response: Twilio sends its own STOP/START confirmations.
      return reply.header("content-type", "text/xml").send("<Response></Response>");
    });
  });

  app.register(async (scope) => {
    // Dialpad posts the compact JWT as the body, whatever its content type says.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

    scope.post("/v1/webhooks/dialpad", { schema: { hide: true } }, async (req, reply) => {
      const body = typeof req.body === "string" ? req.body.trim() : "";
      if (!body) return reject("missing_signature", "the body must be a signed JWT");
      let event: Record<string, unknown> | null = null;
      for (const a of dialpad) {
        if (!a.webhookSecret) continue;
        event = await verifyDialpadJwt(a.webhookSecret, body);
        if (event) break;
      }
      if (!event) return reject("bad_signature", "the JWT is not signed with a configured secret");
      stats.accepted += 1;
      const receipt = dialpadReceipt(event);
      if (receipt) await apply([receipt]);
      return reply.status(200).send({ ok: true });
    });
  });
  return stats;
}
