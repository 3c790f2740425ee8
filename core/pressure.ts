/**
 * Whether send-time lookups are queueing right now: the API measures it (api/pressure.ts),
 * the composition root carries it between processes, and background writers (ingest,
 * restore, rebuild) yield Redis while it says so, as databases throttle background work to
 * protect foreground queries.
 */
export interface LookupPressure {
  pressed(): boolean;
}

/** Hot-index script calls a background writer keeps in flight: 8 normally, 1 while lookups queue. */
export const HOT_WRITES_IN_FLIGHT = 8;
export const HOT_WRITES_IN_FLIGHT_PRESSED = 1;

/** How many script calls a background hot write may send at a time now. */
export function hotWritesInFlight(pressure: LookupPressure | undefined): number {
  return pressure?.pressed() ? HOT_WRITES_IN_FLIGHT_PRESSED : HOT_WRITES_IN_FLIGHT;
}
