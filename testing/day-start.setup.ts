/**
 * Integration files cut their data at today's UTC midnight and batch the days before it. A file
 * that started in a day's last minutes would see that day end under it (the batch job then takes
 * "today" as complete, and W lands past where the file expects it); one that started in the new
 * day's first minute would send "today's" traffic a little into the future. So no file starts
 * between 23:56 and 00:02 UTC: one that would waits until 00:02. Only a run then waits, once per file.
 */
const DAY = 86_400_000;
/** Longer than the longest integration files (serving's acceptance, the cluster failover: two to three minutes). */
const BEFORE_MS = 4 * 60_000;
/** Past midnight by more than the minute of traffic the end-to-end files send for "today". */
const AFTER_MS = 2 * 60_000;

/** Until the next 00:02 UTC. */
const untilStart = (AFTER_MS - (Date.now() % DAY) + DAY) % DAY;
if (untilStart < BEFORE_MS + AFTER_MS) {
  console.log(`waiting ${Math.ceil(untilStart / 1000)} s until 00:02 UTC: this file's days are cut at midnight`);
  await new Promise((resolve) => setTimeout(resolve, untilStart));
}
