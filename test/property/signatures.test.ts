/**
 * Webhook signatures under tampering. The expected Twilio signature is computed here from
 * Twilio's documented recipe (HMAC-SHA1 of the URL followed by each parameter, sorted by name,
 * name then value), not with src/webhooks/twilio-signature.ts; the Dialpad JWTs are made by
 * jose. The valid request passes; any change to the URL, to a parameter's name or value, an
 * added or removed parameter, another token, or a changed signature fails.
 * (test/providers/signature.test.ts cross-checks the Twilio code with the official package.)
 */
import { createHmac } from "node:crypto";
import fc from "fast-check";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { verifyDialpadJwt } from "../../src/webhooks/dialpad-jwt.js";
import { verifyTwilioSignature } from "../../src/webhooks/twilio-signature.js";

type Params = Record<string, string | string[]>;

// ---- Twilio reference ------------------------------------------------------------------------

/** The string Twilio signs: URL, then every name and value, names sorted (repeats: values sorted, once). */
function signedData(url: string, params: Params): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const v = params[name]!;
    for (const value of typeof v === "string" ? [v] : [...new Set(v)].sort()) data += name + value;
  }
  return data;
}
const sign = (token: string, url: string, params: Params) =>
  createHmac("sha1", token).update(signedData(url, params), "utf8").digest("base64");

// ---- Generators ------------------------------------------------------------------------------

const lower = "abcdefghijklmnopqrstuvwxyz0123456789";
const word = (chars: string, min = 1, max = 8) =>
  fc.array(fc.constantFrom(...chars), { minLength: min, maxLength: max }).map((c) => c.join(""));
// URLs in the form Twilio calls: no port, lowercase host, path and query of unreserved
// characters (so no form of the URL is equivalent to another by escaping or port rules).
const url = fc
  .record({
    scheme: fc.constantFrom("https", "http"),
    host: fc.array(word(lower), { minLength: 2, maxLength: 3 }).map((l) => l.join(".")),
    path: fc.array(word(lower + "ABCXYZ_~-"), { minLength: 1, maxLength: 3 }),
    query: fc.array(fc.tuple(word(lower), word(lower + "_-")), { maxLength: 2 }),
  })
  .map(
    (u) =>
      `${u.scheme}://${u.host}/${u.path.join("/")}` +
      (u.query.length ? "?" + u.query.map(([k, v]) => `${k}=${v}`).join("&") : ""),
  );
// Twilio's parameter names and random ones; values of any text, or repeated.
const name = fc.oneof(
  fc.constantFrom("AccountSid", "MessageSid", "MessageStatus", "ErrorCode", "From", "To", "Body"),
  fc.string({ minLength: 1, maxLength: 10 }),
);
const value = fc.string({ unit: "grapheme", maxLength: 16 });
const params: fc.Arbitrary<Params> = fc.dictionary(
  name,
  fc.oneof({ arbitrary: value, weight: 4 }, fc.array(value, { minLength: 1, maxLength: 3 })),
  { minKeys: 1, maxKeys: 8 },
);
const token = fc.string({ minLength: 1, maxLength: 40 });

/** The URL as the URL standard reads it (the string itself when it is not a URL). */
function whatwg(u: string): string {
  try {
    return new URL(u).href;
  } catch {
    return u;
  }
}

/** `s` with one character inserted, deleted or replaced (from `alphabet`) at a random place. */
const edit = (s: string, alphabet: string) =>
  fc
    .record({
      kind: fc.constantFrom("insert", "delete", "replace"),
      at: fc.nat(),
      c: fc.constantFrom(...alphabet),
    })
    .map(({ kind, at, c }) => {
      const i = at % (s.length + (kind === "insert" ? 1 : 0));
      if (kind === "insert") return s.slice(0, i) + c + s.slice(i);
      if (kind === "delete") return s.slice(0, i) + s.slice(i + 1);
      return s.slice(0, i) + c + s.slice(i + 1);
    });

/** A parameter change: a value changed, a name changed, one added, one removed. */
function tamper(p: Params): fc.Arbitrary<Params> {
  const names = Object.keys(p);
  const pick = fc.constantFrom(...names);
  return fc.oneof(
    fc.tuple(pick, value).map(([n, v]) => ({ ...p, [n]: v })),
    fc.tuple(pick, name).map(([n, m]) => {
      const { [n]: v, ...rest } = p;
      return { ...rest, [m]: v! };
    }),
    fc.tuple(name, value).map(([n, v]) => ({ ...p, [n]: v })),
    pick.map((n) => Object.fromEntries(Object.entries(p).filter(([k]) => k !== n))),
  );
}

// ---- Twilio ----------------------------------------------------------------------------------

describe("verifyTwilioSignature under tampering", () => {
  const request = fc.record({ token, url, params });

  it("accepts the request as Twilio signs it", () => {
    fc.assert(
      fc.property(request, ({ token: t, url: u, params: p }) => {
        expect(verifyTwilioSignature(t, u, p, sign(t, u, p))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("refuses it after any change to a parameter's name or value, or one added or removed", () => {
    const tampered = request.chain((r) => tamper(r.params).map((p2) => ({ ...r, p2 })));
    fc.assert(
      fc.property(tampered, ({ token: t, url: u, params: p, p2 }) => {
        // A change that leaves the signed string equal is no change (e.g. {a: "bc"} and
        // {ab: "c"} both sign "abc": Twilio's scheme cannot tell them apart).
        fc.pre(signedData(u, p2) !== signedData(u, p));
        expect(verifyTwilioSignature(t, u, p2, sign(t, u, p))).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it("refuses it after any one-character change to the URL", () => {
    // Inserted or replacing characters: no "&", "=" or "?", because Twilio's own validator also
    // accepts the query as Node's querystring re-encodes it, where "a=1&&b=2" is "a=1&b=2".
    // (Deleting one of them is among the edits.)
    const alphabet = lower + "ABC_~-./";
    const changed = request.chain((r) => edit(r.url, alphabet).map((u2) => ({ ...r, u2 })));
    fc.assert(
      fc.property(changed, ({ token: t, url: u, params: p, u2 }) => {
        // The same URL by the URL standard (e.g. "https:/h/p" is "https://h/p") is no change.
        fc.pre(u2 !== u && whatwg(u2) !== whatwg(u));
        expect(verifyTwilioSignature(t, u2, p, sign(t, u, p)), u2).toBe(false);
      }),
      { numRuns: 400 },
    );
  });

  it("refuses it under another auth token, or with a changed signature", () => {
    const printable = "abcdefXYZ0189-_+/=";
    const changed = request.chain((r) =>
      fc.record({
        r: fc.constant(r),
        t2: edit(r.token, printable),
        sig2: edit(sign(r.token, r.url, r.params), "ABCxyz019+/="),
      }),
    );
    fc.assert(
      fc.property(changed, ({ r, t2, sig2 }) => {
        const sig = sign(r.token, r.url, r.params);
        // HMAC pads short keys with zero bytes: only a really different key is another key.
        fc.pre(t2 !== r.token && t2.replace(/\0+$/, "") !== r.token);
        expect(verifyTwilioSignature(t2, r.url, r.params, sig)).toBe(false);
        if (sig2 !== sig) expect(verifyTwilioSignature(r.token, r.url, r.params, sig2)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

// ---- Dialpad ---------------------------------------------------------------------------------

describe("verifyDialpadJwt under tampering", () => {
  const secret = fc.string({ minLength: 1, maxLength: 40 });
  // JSON that survives the int64-exact parse unchanged: strings, booleans, small integers.
  const payload = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== "__proto__"),
    fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.boolean(),
      fc.integer({ min: -1e9, max: 1e9 }),
      fc.constantFrom("outbound", "delivered", "failed"),
    ),
    { maxKeys: 6 },
  );
  const jwt = (p: Record<string, unknown>, s: string) =>
    new SignJWT(p)
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(new TextEncoder().encode(s));
  const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

  it("accepts a token signed with the secret and returns its payload", async () => {
    await fc.assert(
      fc.asyncProperty(secret, payload, async (s, p) => {
        expect(await verifyDialpadJwt(s, await jwt(p, s))).toEqual(p);
      }),
      { numRuns: 100 },
    );
  });

  it("refuses it after any one-character change to its header, payload or signature", async () => {
    await fc.assert(
      fc.asyncProperty(
        secret,
        payload,
        fc.constantFrom(0, 1, 2),
        fc.record({
          at: fc.nat(),
          c: fc.constantFrom(...b64chars),
          kind: fc.constantFrom("insert", "delete", "replace"),
        }),
        async (s, p, part, e) => {
          const parts = (await jwt(p, s)).split(".");
          const seg = parts[part]!;
          const i = e.at % (seg.length + (e.kind === "insert" ? 1 : 0));
          const changed =
            e.kind === "insert"
              ? seg.slice(0, i) + e.c + seg.slice(i)
              : e.kind === "delete"
                ? seg.slice(0, i) + seg.slice(i + 1)
                : seg.slice(0, i) + e.c + seg.slice(i + 1);
          fc.pre(changed !== seg);
          // The last base64url character of a segment carries unused low bits: a change that
          // decodes to the same bytes is the same signature, not a forgery.
          if (part === 2) {
            fc.pre(
              !Buffer.from(changed, "base64url").equals(Buffer.from(seg, "base64url")) ||
                changed.length % 4 === 1,
            );
          }
          parts[part] = changed;
          expect(await verifyDialpadJwt(s, parts.join("."))).toBeNull();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses it under another secret", async () => {
    await fc.assert(
      fc.asyncProperty(secret, secret, payload, async (s, other, p) => {
        fc.pre(other !== s && other.replace(/\0+$/, "") !== s && s.replace(/\0+$/, "") !== other);
        expect(await verifyDialpadJwt(other, await jwt(p, s))).toBeNull();
      }),
      { numRuns: 100 },
    );
  });
});
