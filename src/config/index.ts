/**
 * Configuration: parsed once at start from the environment and an optional JSON file into one
 * frozen, typed object. Every problem is reported at once, one line each, naming the setting.
 * The environment wins over the file.
 */
import { readFileSync } from "node:fs";
import { SmsqError } from "../errors.js";
import { isErrorClass, type ClassOverrides, type ErrorClass } from "../policy/classify.js";
import { resolveAccounts, type Account, type AccountSettings } from "./accounts.js";
import { SETTINGS, type SettingName, type SettingSpec } from "./settings.js";

export type { Account } from "./accounts.js";

type ValueOf<K extends SettingName> = (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;

export type Config = Readonly<{ [K in SettingName]: ValueOf<K> }> & {
  /** Where the config came from, for the start-up line. */
  readonly source: { file: string | null };
  /** Every configured provider account (environment and file). */
  readonly accounts: readonly Account[];
  /** The account messages are sent through (the first of the route). */
  readonly account: Account;
  /** Accounts in failover order. */
  readonly routeAccounts: readonly Account[];
  /** Per-provider error-class overrides from the config file's `classOverrides`. */
  readonly classOverrides: ClassOverrides;
};

/** Thrown with every problem found; `problems` are the one-line messages. */
export class ConfigError extends SmsqError {
  constructor(readonly problems: string[]) {
    super("config_invalid", problems.join("\n"));
  }
}

function readFile(path: string): { values: Record<string, unknown>; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { values: {}, problems: [`--config ${path}: cannot read (${(e as Error).message})`] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    return { values: {}, problems: [`--config ${path}: not valid JSON (${(e as Error).message})`] };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    return { values: {}, problems: [`--config ${path}: must hold a JSON object`] };
  }
  const known = new Set([
    ...Object.values(SETTINGS).map((s) => s.key),
    "accounts",
    "classOverrides",
  ]);
  const problems = Object.keys(parsed)
    .filter((k) => !known.has(k))
    .map((k) => `--config ${path}: unknown setting "${k}"`);
  return { values: parsed as Record<string, unknown>, problems };
}

/** Loads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  file: string | null = null,
): Config {
  const problems: string[] = [];
  const fromFile = file ? readFile(file) : { values: {}, problems: [] };
  problems.push(...fromFile.problems);
  const out: Record<string, unknown> = {};
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, SettingSpec<unknown>][]) {
    const envRaw = env[s.env];
    const fileRaw = fromFile.values[s.key];
    let raw: string | undefined;
    let label = s.env;
    if (envRaw !== undefined && envRaw !== "") {
      raw = envRaw;
    } else if (fileRaw !== undefined && fileRaw !== null) {
      label = `${s.key} (in ${file})`;
      raw = Array.isArray(fileRaw) ? fileRaw.join(",") : String(fileRaw);
    }
    if (raw === undefined) {
      // A copy, frozen: a caller must not be able to change the defaults of later loads.
      out[name] = Array.isArray(s.default) ? Object.freeze([...s.default]) : s.default;
      continue;
    }
    const v = s.parse(raw);
    if (typeof v === "object" && v !== null && "error" in v) {
      problems.push(`${label}: ${(v as { error: string }).error}`);
    } else {
      out[name] = Array.isArray(v) ? Object.freeze(v) : v;
    }
  }
  if (problems.length === 0) {
    const resolved = resolveAccounts(
      out as unknown as AccountSettings,
      (fromFile.values as Record<string, unknown>).accounts,
    );
    problems.push(...resolved.problems);
    out.accounts = Object.freeze(resolved.accounts.map((a) => Object.freeze(a)));
    out.account = resolved.active;
    const names = out.route as string[];
    if (names.length === 0) {
      out.routeAccounts = Object.freeze([resolved.active]);
    } else {
      const all = [...resolved.accounts, { kind: "sandbox", name: "sandbox" } as Account];
      const route: Account[] = [];
      for (const n of names) {
        const a = all.find((x) => x.name === n);
        if (!a) problems.push(`SMSQ_ROUTE: no account named "${n}" is configured`);
        else if (route.includes(a)) problems.push(`SMSQ_ROUTE: "${n}" is listed twice`);
        else route.push(a);
      }
      out.routeAccounts = Object.freeze(route);
      if (route[0]) out.account = route[0];
    }
  }
  out.classOverrides = parseOverrides(
    (fromFile.values as Record<string, unknown>).classOverrides,
    problems,
  );
  if (problems.length > 0) throw new ConfigError(problems);
  out.source = Object.freeze({ file });
  return Object.freeze(out) as Config;
}

/** `classOverrides`: { provider: { code: class } }, every class one of the six. */
function parseOverrides(raw: unknown, problems: string[]): ClassOverrides {
  if (raw === undefined) return Object.freeze({});
  const out: Record<string, Record<string, ErrorClass>> = {};
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    problems.push(
      'classOverrides: must be an object of providers, e.g. {"twilio": {"30007": "account"}}',
    );
    return out;
  }
  for (const [provider, codes] of Object.entries(raw)) {
    if (typeof codes !== "object" || codes === null || Array.isArray(codes)) {
      problems.push(`classOverrides.${provider}: must be an object of codes`);
      continue;
    }
    const table: Record<string, ErrorClass> = {};
    for (const [code, cls] of Object.entries(codes as Record<string, unknown>)) {
      if (typeof cls === "string" && isErrorClass(cls)) table[code] = cls;
      else {
        problems.push(
          `classOverrides.${provider}.${code}: must be one of rate_limited, transient, ambiguous, recipient_permanent, content_permanent, account`,
        );
      }
    }
    out[provider] = Object.freeze(table);
  }
  return Object.freeze(out);
}
