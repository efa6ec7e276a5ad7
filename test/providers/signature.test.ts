// Webhook signatures. Twilio's is cross-checked against the official twilio package on many
// random URLs and params; Dialpad's JWT check must refuse every token not HS256-signed by us.
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { SignJWT } from "jose";
import twilio from "twilio";
import { getExpectedTwilioSignature } from "twilio/lib/webhooks/webhooks.js";
import { describe, expect, it } from "vitest";
import { verifyDialpadJwt } from "../../src/webhooks/dialpad-jwt.js";
import { twilioSignature, verifyTwilioSignature } from "../../src/webhooks/twilio-signature.js";

type Params = Record<string, string | string[]>;

const text = fc.string({ unit: "grapheme", maxLength: 12 });
const token = fc.string({ minLength: 1, maxLength: 40 });
const params: fc.Arbitrary<Params> = fc.dictionary(
  fc.string({ unit: "grapheme", maxLength: 10 }),
  fc.oneof(
    text,
    // Repeated keys: duplicates and any order, as a form body can carry them.
    fc.array(fc.oneof(text, fc.constantFrom("a", "b", "")), { minLength: 1, maxLength: 4 }),
  ),
  { maxKeys: 8 },
);
// Characters that survive `new URL()` unchanged or get escaped by it (`'`, space, unicode).
const urlChar = fc.constantFrom(..."abcXYZ019-._~!$&'()*+,;=:@ %é漢😀".split(""), "%20", "%27");
const segment = fc.array(urlChar, { maxLength: 8 }).map((c) => c.join(""));
const url = fc
  .record({
    scheme: fc.constantFrom("https", "http", "HTTPS"),
    host: fc.constantFrom("example.com", "hooks.smsq.test", "127.0.0.1", "[::1]", "user@x.io"),
    port: fc.constantFrom("", ":443", ":80", ":8443", ":3000"),
    path: fc.array(segment, { maxLength: 3 }).map((s) => "/" + s.join("/")),
    query: fc.option(
      fc
        .array(fc.tuple(segment, segment), { maxLength: 3 })
        .map((kv) => "?" + kv.map(([k, v]) => `${k}=${v}`).join("&")),
    ),
  })
  .map((u) => `${u.scheme}://${u.host}${u.port}${u.path}${u.query ?? ""}`);

const stripPort = (u: string) => u.replace(/^(\w+:\/\/[^/?#]*?)(:\d+)(?=[/?#]|$)/, "$1");
const withDefaultPort = (u: string) =>
  /^\w+:\/\/[^/?#]*:\d+/.test(u) || /\]$/.test(u.split(/[/?#]/)[2] ?? "")
    ? u
    : u.replace(
        /^(\w+):\/\/([^/?#]*)/,
        (_m, s: string, h: string) => `${s}://${h}${s.toLowerCase() === "https" ? ":443" : ":80"}`,
      );

// Forms of a URL Twilio's back ends may have signed instead of the one received (or not).
const variants: ((u: string) => string)[] = [
  stripPort,
  withDefaultPort,
  (u) => new URL(u).toString(),
  (u) => withDefaultPort(new URL(u).toString()),
  (u) => u + "&x=1",
  (u) => u.toLowerCase(),
];

describe("twilioSignature", () => {
  it("equals twilio-node's getExpectedTwilioSignature", () => {
    fc.assert(
      fc.property(token, url, params, (t, u, p) => {
        expect(twilioSignature(t, u, p)).toBe(getExpectedTwilioSignature(t, u, p));
      }),
      { numRuns: 500 },
    );
  });

  it("reproduces Twilio's published vectors", () => {
    // The vector of Twilio's docs and SDK tests (twilio-php/-csharp RequestValidatorTest).
    const u = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const p = {
      CallSid: "CA1234567890ABCDE",
      Caller: "+14158675309",
      Digits: "1234",
      From: "+14158675309",
      To: "+18005551212",
    };
    expect(twilioSignature("12345", u, p)).toBe("RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    // And the SDKs' repeated-key vector: Digits=5678&Digits=1234&Digits=1234.
    const repeated = { Sid: "CA123", SidAccount: "AC123", Digits: ["5678", "1234", "1234"] };
    expect(twilioSignature("12345", u, repeated)).toBe("IK+Dwps556ElfBT0I3Rgjkr1wJU=");
  });

  it("signs repeated keys with deduplicated, sorted values (as twilio-node)", () => {
    const a = twilioSignature("tok", "https://x.test/cb", { K: ["b", "a", "b"] });
    const b = twilioSignature("tok", "https://x.test/cb", { K: ["a", "b"] });
    expect(a).toBe(b);
    const manual = createHmac("sha1", "tok").update("https://x.test/cbKaKb").digest("base64");
    expect(a).toBe(manual);
  });
});

describe("verifyTwilioSignature", () => {
  it("accepts what Twilio signs, and agrees with twilio.validateRequest", () => {
    fc.assert(
      fc.property(token, url, params, (t, u, p) => {
        const sig = twilioSignature(t, u, p);
        expect(verifyTwilioSignature(t, u, p, sig)).toBe(true);
        expect(twilio.validateRequest(t, sig, u, p)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with twilio.validateRequest when Twilio signed another form of the URL", () => {
    fc.assert(
      fc.property(token, url, params, fc.constantFrom(...variants), (t, u, p, v) => {
        const signed = v(u);
        const sig = twilioSignature(t, signed, p);
        expect(verifyTwilioSignature(t, u, p, sig)).toBe(twilio.validateRequest(t, sig, u, p));
      }),
      { numRuns: 300 },
    );
  });

  it("accepts the port variants Twilio is known to sign", () => {
    const p = { MessageSid: "SM1", MessageStatus: "delivered" };
    const cases: [received: string, signed: string][] = [
      ["https://h.test/cb", "https://h.test:443/cb"],
      ["https://h.test:443/cb", "https://h.test/cb"],
      ["http://h.test/cb?a=1", "http://h.test:80/cb?a=1"],
      ["http://h.test:80/cb", "http://h.test/cb"],
      ["https://h.test/cb?x=it's", "https://h.test/cb?x=it%27s"],
    ];
    for (const [received, signed] of cases) {
      const sig = twilioSignature("tok", signed, p);
      expect(verifyTwilioSignature("tok", received, p, sig), received).toBe(true);
      expect(twilio.validateRequest("tok", sig, received, p)).toBe(true);
    }
  });

  it("refuses a tampered param, URL or token", () => {
    fc.assert(
      fc.property(token, url, params, text, (t, u, p, extra) => {
        const sig = twilioSignature(t, u, p);
        const tampered = { ...p, Zz_extra: extra };
        expect(verifyTwilioSignature(t, u, tampered, sig)).toBe(false);
        expect(twilio.validateRequest(t, sig, u, tampered)).toBe(false);
        const otherUrl = u.replace("://", "://evil.");
        expect(verifyTwilioSignature(t, otherUrl, p, sig)).toBe(false);
        expect(verifyTwilioSignature(t + "x", u, p, sig)).toBe(false);
      }),
      { numRuns: 200 },
    );
    const p = { MessageSid: "SM1", MessageStatus: "delivered" };
    const sig = twilioSignature("tok", "https://h.test/cb", p);
    const changed = { ...p, MessageStatus: "failed" };
    expect(verifyTwilioSignature("tok", "https://h.test/cb", changed, sig)).toBe(false);
    expect(verifyTwilioSignature("tok", "https://h.test/cb2", p, sig)).toBe(false);
  });

  it("refuses a missing, empty, truncated or longer signature without throwing", () => {
    const p = { A: "1" };
    const sig = twilioSignature("tok", "https://h.test/cb", p);
    for (const s of [undefined, "", sig.slice(0, -1), sig + "=", "x", "é".repeat(28)]) {
      expect(verifyTwilioSignature("tok", "https://h.test/cb", p, s)).toBe(false);
    }
    expect(verifyTwilioSignature("", "https://h.test/cb", p, sig)).toBe(false);
    expect(verifyTwilioSignature("tok", "not a url", p, sig)).toBe(false);
  });

  it("agrees with twilio.validateRequest on arbitrary signatures", () => {
    fc.assert(
      fc.property(token, url, params, fc.string({ maxLength: 40 }), (t, u, p, s) => {
        expect(verifyTwilioSignature(t, u, p, s)).toBe(twilio.validateRequest(t, s, u, p));
      }),
      { numRuns: 200 },
    );
  });
});

describe("verifyDialpadJwt", () => {
  const secret = "dialpad-webhook-secret";
  const event = { id: 5889584726728704, direction: "outbound", message_status: "success" };
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const sign = (payload: Record<string, unknown>, key = secret, alg = "HS256") =>
    new SignJWT(payload)
      .setProtectedHeader({ alg, typ: "JWT" })
      .sign(new TextEncoder().encode(key));

  it("returns the payload of an HS256 token signed with the secret", async () => {
    const jwt = await sign(event);
    expect(await verifyDialpadJwt(secret, jwt)).toEqual(event);
    // Surrounding whitespace (a trailing newline) does not matter.
    expect(await verifyDialpadJwt(secret, `${jwt}\n`)).toEqual(event);
  });

  it("keeps an int64 id beyond 2^53 exact (as a string)", async () => {
    const header = b64({ alg: "HS256", typ: "JWT" });
    const payload = Buffer.from('{"id":6543210987654321123,"direction":"outbound"}').toString(
      "base64url",
    );
    const mac = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
    const out = await verifyDialpadJwt(secret, `${header}.${payload}.${mac}`);
    expect(out?.id).toBe("6543210987654321123");
  });

  it("refuses another secret, alg none, HS512, RS256, a modified payload and garbage", async () => {
    const good = await sign(event);
    const [h, , s] = good.split(".");
    const forged = `${h}.${b64({ ...event, message_status: "failed" })}.${s}`;
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64(event)}.`;
    const rs256Header = `${b64({ alg: "RS256", typ: "JWT" })}.${b64(event)}`;
    const rs256 = `${rs256Header}.${createHmac("sha256", secret).update(rs256Header).digest("base64url")}`;
    const bad = [
      await sign(event, "another-secret"),
      none,
      await sign(event, secret, "HS512"),
      rs256,
      forged,
      "",
      "garbage",
      "a.b.c",
      JSON.stringify(event),
      good.slice(0, -2),
    ];
    for (const token of bad) expect(await verifyDialpadJwt(secret, token), token).toBeNull();
    expect(await verifyDialpadJwt("", good)).toBeNull();
  });

  it("never throws on arbitrary input", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string(), async (body) => {
        expect(await verifyDialpadJwt(secret, body)).toBeNull();
      }),
      { numRuns: 200 },
    );
  });
});
