// Compile-time guarantees (checked by `tsc`, which type-checks the tests): the client's types are
// the server schemas' static types, and its query options name exactly the server's parameters.
import type { Static } from "@sinclair/typebox";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { RequeueInput, RequeueResponse } from "../../src/api/routes/requeue.js";
import type {
  Suppression,
  SuppressionInput,
  SuppressionListQuery,
  SuppressionPage,
} from "../../src/api/routes/suppressions.js";
import {
  MAX_BATCH_SIZE,
  SmsqClient,
  type ListOptions,
  type SuppressionListOptions,
} from "../../src/client/index.js";
import * as schemas from "../../src/messages/schemas.js";

type S<K extends keyof typeof schemas> = (typeof schemas)[K] extends infer T
  ? T extends import("@sinclair/typebox").TSchema
    ? Static<T>
    : never
  : never;

describe("client types", () => {
  it("take their shapes from the server's schemas", () => {
    type C = SmsqClient;
    expectTypeOf<Parameters<C["send"]>[0]>().toEqualTypeOf<S<"MessageInput">>();
    expectTypeOf<ReturnType<C["send"]>>().toEqualTypeOf<Promise<S<"Message">>>();
    expectTypeOf<Parameters<C["batch"]>[0]>().toEqualTypeOf<readonly S<"BatchItemInput">[]>();
    expectTypeOf<ReturnType<C["batch"]>>().toEqualTypeOf<Promise<S<"BatchResponse">>>();
    expectTypeOf<ReturnType<C["get"]>>().toEqualTypeOf<Promise<S<"MessageDetail">>>();
    expectTypeOf<ReturnType<C["list"]>>().toEqualTypeOf<Promise<S<"MessagePage">>>();
    expectTypeOf<ReturnType<C["cancel"]>>().toEqualTypeOf<Promise<S<"Message">>>();
    expectTypeOf<ReturnType<C["retry"]>>().toEqualTypeOf<Promise<S<"Message">>>();
    expectTypeOf<Parameters<C["requeue"]>[0]>().toEqualTypeOf<RequeueInput | undefined>();
    expectTypeOf<ReturnType<C["requeue"]>>().toEqualTypeOf<
      Promise<Static<typeof RequeueResponse>>
    >();
    type Sup = C["suppressions"];
    expectTypeOf<Parameters<Sup["add"]>[0]>().toEqualTypeOf<SuppressionInput>();
    expectTypeOf<ReturnType<Sup["add"]>>().toEqualTypeOf<Promise<Suppression>>();
    expectTypeOf<ReturnType<Sup["list"]>>().toEqualTypeOf<Promise<SuppressionPage>>();
  });

  it("name exactly the server's query parameters", () => {
    expectTypeOf<keyof ListOptions>().toEqualTypeOf<keyof S<"ListQuery">>();
    expectTypeOf<keyof SuppressionListOptions>().toEqualTypeOf<keyof SuppressionListQuery>();
    expectTypeOf<NonNullable<ListOptions["status"]>>().toEqualTypeOf<
      S<"Message">["status"] | readonly S<"Message">["status"][]
    >();
  });

  it("refuse what the API would refuse, at compile time", () => {
    const c = new SmsqClient({ baseUrl: "http://127.0.0.1:1" });
    const never = () => {
      // @ts-expect-error: body is required
      void c.send({ to: "+14155550100" });
      // @ts-expect-error: not a priority
      void c.send({ to: "+14155550100", body: "x", priority: "urgent" });
      // @ts-expect-error: an unknown field
      void c.send({ to: "+14155550100", body: "x", colour: "red" });
      // @ts-expect-error: not a status
      void c.list({ status: "lost" });
      // @ts-expect-error: idempotencyKey is per item in a batch, not an option of send's message
      void c.send({ to: "+14155550100", body: "x", idempotencyKey: "k" });
    };
    expect(typeof never).toBe("function");
  });

  it("MAX_BATCH_SIZE is the server's MAX_BATCH", () => {
    expect(MAX_BATCH_SIZE).toBe(schemas.MAX_BATCH);
  });
});
