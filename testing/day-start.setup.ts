/**
 * Integration files cut their data at today's UTC midnight and batch the days before it. A file
 * that started in a day's last minutes would see that day end under it (the batch job then takes
 * "today" as complete, and W lands past where the file expects it), so a file that would start then
 * waits until the new day is a few seconds old. Only a run near midnight UTC waits, once per file.
 */
const DAY = 86_400_000;
/** Longer than the longest integration file (the cluster failover, about two minutes). */
const MARGIN_MS = 4 * 60_000;
/** Past midnight by more than the pipeline harness's allowed lateness (5 s). */
const PAST_MS = 15_000;

const left = DAY - (Date.now() % DAY);
if (left < MARGIN_MS) {
  console.log(`waiting ${Math.ceil((left + PAST_MS) / 1000)} s for midnight UTC: this file's days are cut there`);
  await new Promise((resolve) => setTimeout(resolve, left + PAST_MS));
}
