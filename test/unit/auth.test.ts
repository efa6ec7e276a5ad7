import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ANONYMOUS, ApiKeys, keyId } from "../../src/api/auth.js";
import { canonicalJson, requestHash } from "../../src/api/canonical.js";
import { isSmsqError, type SmsqError } from "../../src/errors.js";

const KEY_A = "alpha-0123456789abcdef";
const KEY_B = "bravo-fedcba9876543210";

function unauthorized(fn: () => unknown): SmsqError {
  try {
    fn();
  } catch (e) {
    expect(isSmsqError(e)).toBe(true);
    const se = e as SmsqError;
    expect(se.code).toBe("unauthorized");
    expect(se.status).toBe(401);
    expect(se.field).toBe("Authorization");
    return se;
  }
  throw new Error("expected an unauthorized SmsqError");
}

describe("ApiKeys", () => {
  it("is open, and anonymous, when no key is configured", () => {
    const keys = new ApiKeys([]);
    expect(keys.open).toBe(true);
    expect(keys.authenticate(undefined)).toBe(ANONYMOUS);
    expect(keys.authenticate("Bearer whatever")).toBe(ANONYMOUS);
    expect(keys.authenticate("garbage")).toBe(ANONYMOUS);
  });

  it("is closed when keys are configured", () => {
    expect(new ApiKeys([KEY_A]).open).toBe(false);
  });

  it("maps each key to its own key id", () => {
    const keys = new ApiKeys([KEY_A, KEY_B]);
    const a = keys.authenticate(`Bearer ${KEY_A}`);
    const b = keys.authenticate(`Bearer ${KEY_B}`);
    expect(a).toBe(keyId(KEY_A));
    expect(b).toBe(keyId(KEY_B));
    expect(a).not.toBe(b);
    expect(a).not.toBe(ANONYMOUS);
  });

  it("accepts the scheme in any case and surrounding whitespace", () => {
    const keys = new ApiKeys([KEY_A]);
    for (const h of [
      `bearer ${KEY_A}`,
      `BEARER ${KEY_A}`,
      `Bearer   ${KEY_A}  `,
      `Bearer\t${KEY_A}`,
    ]) {
      expect(keys.authenticate(h), JSON.stringify(h)).toBe(keyId(KEY_A));
    }
  });

  it("refuses a missing or malformed header", () => {
    const keys = new ApiKeys([KEY_A]);
    for (const h of [
      undefined,
      "",
      KEY_A,
      `Basic ${KEY_A}`,
      `Token ${KEY_A}`,
      "Bearer",
      "Bearer ",
      `Bearer ${KEY_A} extra`,
      `Bearer${KEY_A}`,
    ]) {
      const e = unauthorized(() => keys.authenticate(h));
      expect(e.message).not.toContain(KEY_A);
    }
  });

  it("refuses a wrong key, including near misses", () => {
    const keys = new ApiKeys([KEY_A, KEY_B]);
    for (const k of [
      "wrong-key-0000000000",
      KEY_A.slice(0, -1),
      KEY_A + "x",
      KEY_A.toUpperCase(),
      `${KEY_A},${KEY_B}`,
    ]) {
      unauthorized(() => keys.authenticate(`Bearer ${k}`));
    }
  });

  it("gives every key a stable id that does not reveal the key", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 16, maxLength: 64 }),
        fc.string({ minLength: 16, maxLength: 64 }),
        (k1, k2) => {
          const id = keyId(k1);
          expect(id).toMatch(/^key_[0-9a-f]+$/);
          expect(id).toBe(keyId(k1));
          expect(id).not.toContain(k1);
          expect(id.length).toBeLessThan(k1.length + 8);
          if (k1 !== k2) expect(keyId(k2)).not.toBe(id);
        },
      ),
      { numRuns: 200 },
    );
    // The same key gets the same id from two separate key sets (ids survive restarts).
    expect(new ApiKeys([KEY_B, KEY_A]).authenticate(`Bearer ${KEY_A}`)).toBe(
      new ApiKeys([KEY_A]).authenticate(`Bearer ${KEY_A}`),
    );
  });
});

/** Rebuilds a JSON value with every object's keys in reverse insertion order. */
function reverseKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reverseKeys);
  if (v !== null && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).reverse()) {
      // defineProperty, not assignment: a "__proto__" key must stay an own property.
      Object.defineProperty(out, k, {
        value: reverseKeys((v as Record<string, unknown>)[k]),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return v;
}

describe("canonicalJson and requestHash", () => {
  it("sorts object keys at every depth and keeps array order", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe(
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
    expect(canonicalJson([2, 1])).toBe("[2,1]");
    expect(canonicalJson('x"y')).toBe('"x\\"y"');
    expect(canonicalJson({})).toBe("{}");
  });

  it("drops undefined properties as JSON.stringify does", () => {
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });

  it("is independent of key order", () => {
    const a = { to: "+14155552671", body: "hi", metadata: { x: 1, y: [1, 2] } };
    const b = { metadata: { y: [1, 2], x: 1 }, body: "hi", to: "+14155552671" };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(requestHash(a)).toBe(requestHash(b));
  });

  it("hashes to 64 hex characters and differs when a value differs", () => {
    const base = { to: "+14155552671", body: "hi", priority: "high", metadata: { n: 1 } };
    const h = requestHash(base);
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    for (const other of [
      { ...base, body: "hi!" },
      { ...base, to: "+14155552672" },
      { ...base, metadata: { n: "1" } },
      { ...base, metadata: { n: 1, m: 2 } },
      { ...base, priority: undefined },
      { to: base.to, body: base.body },
      [base],
    ]) {
      expect(requestHash(other), JSON.stringify(other)).not.toBe(h);
    }
    expect(requestHash({ a: [1, 2] })).not.toBe(requestHash({ a: [2, 1] }));
    expect(requestHash({ a: "b" })).not.toBe(requestHash({ ab: "" }));
  });

  it("property: key order never matters and the output is JSON of the same value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const c = canonicalJson(v);
        expect(canonicalJson(reverseKeys(v))).toBe(c);
        expect(requestHash(reverseKeys(v))).toBe(requestHash(v));
        // Valid JSON, holding the same value (JSON.stringify round trip as the reference).
        const parsed: unknown = JSON.parse(c);
        expect(canonicalJson(parsed)).toBe(c);
        expect(canonicalJson(JSON.parse(JSON.stringify(v)))).toBe(c);
      }),
      { numRuns: 300 },
    );
  });
});
