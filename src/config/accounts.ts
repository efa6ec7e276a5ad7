/**
 * Provider accounts: the single-account set-up from environment variables (TWILIO_*,
 * DIALPAD_*) plus any number from the config file's `accounts` list. Cross-field rules (an
 * account SID needs a token, a sender, …) are checked here, each problem one line naming the
 * setting.
 */
export interface TwilioAccount {
  kind: "twilio";
  name: string;
  accountSid: string;
  authToken: string | null;
  apiKeySid: string | null;
  apiKeySecret: string | null;
  from: string | null;
  messagingServiceSid: string | null;
  senders: readonly string[];
  baseUrl: string;
  /** This account's own daily segment budget (config file); null = the global setting. */
  dailySegmentBudget?: number | null;
  /** This account's own resend policy (config file); undefined = the global setting. */
  resendUndelivered?: ResendSetting;
  /** This account's own in-doubt policy (config file); undefined = the global setting. */
  inDoubtPolicy?: "reconcile" | "resend" | "fail";
  /** E.164 prefixes it can send to (config file), e.g. ["+1"]; absent: everywhere. */
  destinations?: readonly string[];
  limits?: AccountRateLimits;
}

/** Throughput limits of one account (segments per second, as providers count them). */
export interface AccountRateLimits {
  /** Rate of each sender (null: the default for its type; Dialpad: none per sender). */
  mps: number | null;
  /** Per-sender rates that differ from `mps`. */
  senderMps: Readonly<Record<string, number>>;
  /** Rate of the whole account (null: none; Dialpad: its per-minute limit / 60). */
  accountMps: number | null;
  /** Requests in flight across all workers (null: no cap). */
  maxInFlight: number | null;
  /** Pool senders stick to recipients (null: the global setting). */
  sticky: boolean | null;
  /** The window the provider counts its limit over, in seconds (null: its default). */
  windowSeconds?: number | null;
}

/** `true`, `false`, or the policy's fields (codes, afterMs, max). */
export type ResendSetting = boolean | { codes?: string[]; afterMs?: number; max?: number };

export interface DialpadAccount {
  kind: "dialpad";
  name: string;
  apiToken: string;
  from: string | null;
  senders: readonly string[];
  baseUrl: string;
  webhookSecret: string | null;
  dailySegmentBudget?: number | null;
  resendUndelivered?: ResendSetting;
  inDoubtPolicy?: "reconcile" | "resend" | "fail";
  destinations?: readonly string[];
  limits?: AccountRateLimits;
}

export interface SandboxAccount {
  kind: "sandbox";
  name: "sandbox";
}

export type Account = TwilioAccount | DialpadAccount | SandboxAccount;

/** The settings this module reads (a subset of Config). */
export interface AccountSettings {
  provider: "sandbox" | "twilio" | "dialpad" | null;
  publicUrl: string | null;
  twilioAccountSid: string | null;
  twilioAuthToken: string | null;
  twilioApiKeySid: string | null;
  twilioApiKeySecret: string | null;
  twilioFrom: string | null;
  twilioMessagingServiceSid: string | null;
  twilioBaseUrl: string;
  dialpadApiToken: string | null;
  dialpadFrom: string | null;
  dialpadBaseUrl: string;
  dialpadWebhookSecret: string | null;
  twilioMps: number | null;
  twilioAccountMps: number | null;
  twilioSenders: readonly string[];
  twilioMaxInFlight: number | null;
  dialpadRatePerMinute: number;
  dialpadRateWindowSeconds: number;
  dialpadSenders: readonly string[];
}

const SID = /^AC[0-9a-fA-F]{32}$/;
const KEY_SID = /^SK[0-9a-fA-F]{32}$/;
const MG_SID = /^MG[0-9a-fA-F]{32}$/;

function twilioProblems(a: TwilioAccount, label: (f: string) => string, publicUrl: boolean) {
  const p: string[] = [];
  if (!SID.test(a.accountSid)) {
    p.push(`${label("accountSid")}: must be AC followed by 32 hex digits`);
  }
  const keyPair = a.apiKeySid !== null || a.apiKeySecret !== null;
  if (a.apiKeySid !== null && !KEY_SID.test(a.apiKeySid)) {
    p.push(`${label("apiKeySid")}: must be SK followed by 32 hex digits`);
  }
  if (keyPair && (a.apiKeySid === null || a.apiKeySecret === null)) {
    p.push(
      a.apiKeySid === null
        ? `${label("apiKeySid")}: required with ${label("apiKeySecret")}`
        : `${label("apiKeySecret")}: required with ${label("apiKeySid")}`,
    );
  }
  if (a.authToken === null && !keyPair) {
    p.push(
      `${label("authToken")}: required when ${label("accountSid")} is set (or ${label("apiKeySid")} with ${label("apiKeySecret")})`,
    );
  } else if (a.authToken === null && publicUrl) {
    p.push(
      `${label("authToken")}: required to verify Twilio status callbacks, which are signed with it (SMSQ_PUBLIC_URL is set)`,
    );
  }
  if (a.messagingServiceSid !== null && !MG_SID.test(a.messagingServiceSid)) {
    p.push(`${label("messagingServiceSid")}: must be MG followed by 32 hex digits`);
  }
  if (a.from === null && a.messagingServiceSid === null && a.senders.length === 0) {
    p.push(
      `${label("from")}: required when ${label("accountSid")} is set (or ${label("messagingServiceSid")})`,
    );
  }
  return p;
}

function dialpadProblems(a: DialpadAccount, label: (f: string) => string) {
  if (a.from === null && a.senders.length === 0) {
    return [`${label("from")}: required when ${label("apiToken")} is set`];
  }
  return [];
}

const ENV_LABELS: Record<string, string> = {
  accountSid: "TWILIO_ACCOUNT_SID",
  authToken: "TWILIO_AUTH_TOKEN",
  apiKeySid: "TWILIO_API_KEY_SID",
  apiKeySecret: "TWILIO_API_KEY_SECRET",
  from: "TWILIO_FROM",
  messagingServiceSid: "TWILIO_MESSAGING_SERVICE_SID",
};
const DIALPAD_LABELS: Record<string, string> = {
  apiToken: "DIALPAD_API_TOKEN",
  from: "DIALPAD_FROM",
};

const str = (v: unknown): string | null =>
  typeof v === "string" && v.trim().length > 0 ? v.trim() : null;

function fromFile(raw: unknown, i: number, s: AccountSettings, problems: string[]): Account | null {
  const where = `accounts[${i}]`;
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(`${where}: must be an object`);
    return null;
  }
  const o = raw as Record<string, unknown>;
  const name = str(o.name);
  if (!name || !/^[a-z0-9][a-z0-9_-]{0,62}$/i.test(name)) {
    problems.push(`${where}.name: required, letters, digits, - and _ only`);
    return null;
  }
  const senders = Array.isArray(o.senders)
    ? o.senders.filter((x): x is string => typeof x === "string")
    : [];
  const label = (f: string) => `${where}.${f}`;
  const known = new Set([
    "name",
    "provider",
    "senders",
    "dailySegmentBudget",
    "resendUndelivered",
    "inDoubtPolicy",
    "destinations",
    "mps",
    "senderMps",
    "accountMps",
    "ratePerMinute",
    "maxInFlight",
    "sticky",
    "rateWindowSeconds",
  ]);
  const limits = parseLimits(o, label, problems, o.provider === "dialpad");
  let destinations: string[] | undefined;
  if (o.destinations !== undefined) {
    const d = o.destinations;
    if (
      Array.isArray(d) &&
      d.length > 0 &&
      d.every((x) => typeof x === "string" && /^\+\d{1,6}$/.test(x))
    ) {
      destinations = d as string[];
    } else {
      problems.push(
        `${label("destinations")}: must be a list of E.164 prefixes such as "+1", "+44"`,
      );
    }
  }
  let inDoubtPolicy: "reconcile" | "resend" | "fail" | undefined;
  if (o.inDoubtPolicy !== undefined) {
    if (
      o.inDoubtPolicy === "reconcile" ||
      o.inDoubtPolicy === "resend" ||
      o.inDoubtPolicy === "fail"
    ) {
      inDoubtPolicy = o.inDoubtPolicy;
    } else {
      problems.push(`${label("inDoubtPolicy")}: must be reconcile, resend or fail`);
    }
  }
  let resendUndelivered: ResendSetting | undefined;
  const rs = o.resendUndelivered;
  if (typeof rs === "boolean") resendUndelivered = rs;
  else if (typeof rs === "object" && rs !== null && !Array.isArray(rs)) {
    const r = rs as Record<string, unknown>;
    const okCodes =
      r.codes === undefined ||
      (Array.isArray(r.codes) &&
        r.codes.every((c) => typeof c === "string" || typeof c === "number"));
    const okAfter = r.afterMs === undefined || (typeof r.afterMs === "number" && r.afterMs >= 0);
    const okMax =
      r.max === undefined || (typeof r.max === "number" && Number.isInteger(r.max) && r.max >= 1);
    if (okCodes && okAfter && okMax) {
      resendUndelivered = {
        codes: Array.isArray(r.codes) ? r.codes.map(String) : undefined,
        afterMs: r.afterMs as number | undefined,
        max: r.max as number | undefined,
      };
    } else {
      problems.push(`${label("resendUndelivered")}: must be true, false or {codes, afterMs, max}`);
    }
  } else if (rs !== undefined) {
    problems.push(`${label("resendUndelivered")}: must be true, false or {codes, afterMs, max}`);
  }
  let dailySegmentBudget: number | null = null;
  if (o.dailySegmentBudget !== undefined && o.dailySegmentBudget !== null) {
    const b = o.dailySegmentBudget;
    if (typeof b === "number" && Number.isSafeInteger(b) && b > 0) dailySegmentBudget = b;
    else problems.push(`${label("dailySegmentBudget")}: must be a positive integer`);
  }
  if (o.provider === "twilio") {
    const a: TwilioAccount = {
      kind: "twilio",
      name,
      accountSid: str(o.accountSid) ?? "",
      authToken: str(o.authToken),
      apiKeySid: str(o.apiKeySid),
      apiKeySecret: str(o.apiKeySecret),
      from: str(o.from) ?? senders[0] ?? null,
      messagingServiceSid: str(o.messagingServiceSid),
      senders,
      baseUrl: (str(o.baseUrl) ?? s.twilioBaseUrl).replace(/\/+$/, ""),
      dailySegmentBudget,
      resendUndelivered,
      inDoubtPolicy,
      destinations,
      limits,
    };
    for (const k of [
      "accountSid",
      "authToken",
      "apiKeySid",
      "apiKeySecret",
      "from",
      "messagingServiceSid",
      "baseUrl",
    ]) {
      known.add(k);
    }
    problems.push(...twilioProblems(a, label, s.publicUrl !== null));
    for (const k of Object.keys(o)) {
      if (!known.has(k)) problems.push(`${where}: unknown setting "${k}"`);
    }
    return a;
  }
  if (o.provider === "dialpad") {
    const apiToken = str(o.apiToken);
    if (!apiToken) problems.push(`${label("apiToken")}: required`);
    const a: DialpadAccount = {
      kind: "dialpad",
      name,
      apiToken: apiToken ?? "",
      from: str(o.from) ?? senders[0] ?? null,
      senders,
      baseUrl: (str(o.baseUrl) ?? s.dialpadBaseUrl).replace(/\/+$/, ""),
      webhookSecret: str(o.webhookSecret) ?? s.dialpadWebhookSecret,
      dailySegmentBudget,
      resendUndelivered,
      inDoubtPolicy,
      destinations,
      limits,
    };
    for (const k of ["apiToken", "from", "baseUrl", "webhookSecret"]) known.add(k);
    problems.push(...dialpadProblems(a, label));
    for (const k of Object.keys(o)) {
      if (!known.has(k)) problems.push(`${where}: unknown setting "${k}"`);
    }
    return a;
  }
  problems.push(`${where}.provider: must be "twilio" or "dialpad"`);
  return null;
}

/** Resolves every configured account and the one to send through; lists every problem. */
export function resolveAccounts(
  s: AccountSettings,
  fileAccounts: unknown,
): { accounts: Account[]; active: Account; problems: string[] } {
  const problems: string[] = [];
  const accounts: Account[] = [];

  const twilioEnv = [
    s.twilioAuthToken,
    s.twilioApiKeySid,
    s.twilioApiKeySecret,
    s.twilioFrom,
    s.twilioMessagingServiceSid,
    s.twilioMps,
    s.twilioAccountMps,
    s.twilioMaxInFlight,
    s.twilioSenders.length > 0 ? "set" : null,
  ];
  if (s.twilioAccountSid !== null) {
    const a: TwilioAccount = {
      kind: "twilio",
      name: "twilio",
      accountSid: s.twilioAccountSid,
      authToken: s.twilioAuthToken,
      apiKeySid: s.twilioApiKeySid,
      apiKeySecret: s.twilioApiKeySecret,
      from: s.twilioFrom ?? s.twilioSenders[0] ?? null,
      messagingServiceSid: s.twilioMessagingServiceSid,
      senders: unique([...(s.twilioFrom ? [s.twilioFrom] : []), ...s.twilioSenders]),
      baseUrl: s.twilioBaseUrl,
      limits: {
        mps: s.twilioMps,
        senderMps: {},
        accountMps: s.twilioAccountMps,
        maxInFlight: s.twilioMaxInFlight,
        sticky: null,
      },
    };
    problems.push(...twilioProblems(a, (f) => ENV_LABELS[f] ?? f, s.publicUrl !== null));
    accounts.push(a);
  } else if (twilioEnv.some((v) => v !== null)) {
    problems.push("TWILIO_ACCOUNT_SID: required when other TWILIO_ settings are set");
  }

  if (s.dialpadApiToken !== null) {
    const a: DialpadAccount = {
      kind: "dialpad",
      name: "dialpad",
      apiToken: s.dialpadApiToken,
      from: s.dialpadFrom ?? s.dialpadSenders[0] ?? null,
      senders: unique([...(s.dialpadFrom ? [s.dialpadFrom] : []), ...s.dialpadSenders]),
      baseUrl: s.dialpadBaseUrl,
      webhookSecret: s.dialpadWebhookSecret,
      limits: {
        mps: null,
        senderMps: {},
        accountMps: s.dialpadRatePerMinute / 60,
        maxInFlight: null,
        sticky: null,
        windowSeconds: s.dialpadRateWindowSeconds,
      },
    };
    problems.push(...dialpadProblems(a, (f) => DIALPAD_LABELS[f] ?? f));
    accounts.push(a);
  } else if (s.dialpadFrom !== null || s.dialpadSenders.length > 0) {
    problems.push("DIALPAD_API_TOKEN: required when DIALPAD_FROM is set");
  }

  if (fileAccounts !== undefined) {
    if (!Array.isArray(fileAccounts)) problems.push("accounts: must be a list of accounts");
    else {
      fileAccounts.forEach((raw, i) => {
        const a = fromFile(raw, i, s, problems);
        if (a) accounts.push(a);
      });
    }
  }
  const names = accounts.map((a) => a.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) problems.push(`accounts: the name "${dup}" is used twice`);

  const sandbox: SandboxAccount = { kind: "sandbox", name: "sandbox" };
  let active: Account = accounts[0] ?? sandbox;
  if (s.provider === "sandbox") active = sandbox;
  else if (s.provider !== null) {
    const found = accounts.find((a) => a.kind === s.provider);
    if (found) active = found;
    else problems.push(`SMSQ_PROVIDER: ${s.provider} is not configured`);
  }
  return { accounts, active, problems };
}

const unique = (xs: string[]): string[] => [...new Set(xs)];

const positive = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v) && v > 0;

/** The throughput fields of a file account: mps, senderMps, accountMps, ratePerMinute, … */
function parseLimits(
  o: Record<string, unknown>,
  label: (f: string) => string,
  problems: string[],
  dialpad: boolean,
): AccountRateLimits {
  const out: AccountRateLimits = {
    mps: null,
    senderMps: {},
    accountMps: dialpad ? 100 / 60 : null,
    maxInFlight: null,
    sticky: null,
  };
  if (o.mps !== undefined) {
    if (positive(o.mps)) out.mps = o.mps;
    else problems.push(`${label("mps")}: must be a positive number (segments per second)`);
  }
  if (o.senderMps !== undefined) {
    const m = o.senderMps;
    if (
      typeof m === "object" &&
      m !== null &&
      !Array.isArray(m) &&
      Object.values(m).every(positive)
    ) {
      out.senderMps = m as Record<string, number>;
    } else {
      problems.push(
        `${label("senderMps")}: must map senders to positive numbers, e.g. {"+15550100": 3}`,
      );
    }
  }
  if (o.accountMps !== undefined && o.ratePerMinute !== undefined) {
    problems.push(`${label("ratePerMinute")}: give accountMps or ratePerMinute, not both`);
  }
  if (o.accountMps !== undefined) {
    if (positive(o.accountMps)) out.accountMps = o.accountMps;
    else problems.push(`${label("accountMps")}: must be a positive number (segments per second)`);
  }
  if (o.ratePerMinute !== undefined) {
    if (positive(o.ratePerMinute)) out.accountMps = o.ratePerMinute / 60;
    else problems.push(`${label("ratePerMinute")}: must be a positive number`);
  }
  if (o.maxInFlight !== undefined) {
    const n = o.maxInFlight;
    if (typeof n === "number" && Number.isSafeInteger(n) && n > 0) out.maxInFlight = n;
    else problems.push(`${label("maxInFlight")}: must be a positive integer`);
  }
  if (o.rateWindowSeconds !== undefined) {
    if (positive(o.rateWindowSeconds)) out.windowSeconds = o.rateWindowSeconds;
    else problems.push(`${label("rateWindowSeconds")}: must be a positive number of seconds`);
  }
  if (o.sticky !== undefined) {
    if (typeof o.sticky === "boolean") out.sticky = o.sticky;
    else problems.push(`${label("sticky")}: must be true or false`);
  }
  return out;
}
