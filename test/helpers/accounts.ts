// Accounts as the config builds them, for tests that start an API with webhooks.
import type { TwilioAccount } from "../../src/config/accounts.js";

/** A Twilio account named "twilio" sending from +14155550000; the API is never called. */
export function twilioAccount(accountSid: string, authToken: string): TwilioAccount {
  return {
    kind: "twilio",
    name: "twilio",
    accountSid,
    authToken,
    apiKeySid: null,
    apiKeySecret: null,
    from: "+14155550000",
    messagingServiceSid: null,
    senders: [],
    baseUrl: "http://127.0.0.1:9",
  };
}
