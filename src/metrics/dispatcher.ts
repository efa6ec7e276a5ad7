/** The dispatcher's own counters as series, copied from Dispatcher.stats at each scrape. */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DispatcherSource } from "./sources.js";

export class DispatcherCounters {
  private readonly inFlight: Gauge;
  private readonly counters: Record<
    | "claimed"
    | "leaseLost"
    | "storeErrors"
    | "lateReleased"
    | "orphansReleased"
    | "unknownReceipts",
    Counter
  >;

  constructor(registry: Registry) {
    const counter = (name: string, help: string) =>
      new Counter({ name, help, registers: [registry] });
    this.inFlight = new Gauge({
      name: "smsq_dispatcher_in_flight_messages",
      help: "Messages this process has claimed and not yet recorded.",
      registers: [registry],
    });
    this.counters = {
      claimed: counter("smsq_dispatcher_claimed_total", "Messages this process claimed."),
      leaseLost: counter(
        "smsq_dispatcher_lease_lost_total",
        "Outcomes recorded after another worker had taken the message's lease back.",
      ),
      storeErrors: counter(
        "smsq_dispatcher_store_errors_total",
        "Store errors the dispatcher rode out (outages included).",
      ),
      lateReleased: counter(
        "smsq_dispatcher_late_released_total",
        "Messages put back unsent because the worker missed their rate-limit slot.",
      ),
      orphansReleased: counter(
        "smsq_dispatcher_orphans_released_total",
        "Messages put back unsent after a claim committed while its answer was lost (store outage).",
      ),
      unknownReceipts: counter(
        "smsq_receipts_dropped_total",
        "Held receipts dropped because their provider id never became known.",
      ),
    };
  }

  /** Sets every series from the dispatcher's counters (zero without a dispatcher). */
  read(d: DispatcherSource | null): void {
    this.inFlight.reset();
    for (const [key, c] of Object.entries(this.counters) as [
      keyof typeof this.counters,
      Counter,
    ][]) {
      c.reset();
      if (d) c.inc(d.stats[key]);
    }
    if (d) this.inFlight.set(d.inFlight);
  }
}
