/**
 * The example queries of the README's ClickHouse section, kept here so that the README, the
 * pipeline's closing hint and the warehouse integration test (which runs each of them, read-only,
 * against loaded test data) use the very same text. Written for ClickHouse 18.16 and current
 * releases alike: no window functions, explicit join strictness (ALL), toRelativeWeekNum rather
 * than dateDiff, every table function avoided (readonly=1 forbids them).
 */
export interface SqlExample {
  title: string;
  sql: string;
}

/** A quick look, printed by `make pipeline`. */
export const SQL_FIRST_LOOK = 'SELECT site_id, toDate(event_time) AS day, count() AS events, uniqExact(visitor_id) AS visitors FROM events GROUP BY site_id, day ORDER BY day, site_id';

export const SQL_EXAMPLES: readonly SqlExample[] = [
  {
    title: 'Funnel: of the visitors who viewed a page, how many added to the cart and then bought within an hour (last 7 days, humans only)',
    sql: `SELECT level, count() AS visitors
FROM (
  SELECT visitor_id,
         windowFunnel(3600)(event_time, type = 'pageview', type = 'custom' AND name = 'add_to_cart', type = 'purchase') AS level
  FROM events
  WHERE site_id = 'shop' AND event_time >= now() - 7 * 86400 AND is_bot = 0
  GROUP BY visitor_id
)
GROUP BY level
ORDER BY level`,
  },
  {
    title: 'Retention by week: visitors of each first-visit week (cohort) still active 0, 1, 2… weeks later',
    sql: `SELECT cohort, toRelativeWeekNum(week) - toRelativeWeekNum(cohort) AS weeks_later, uniqExact(visitor_id) AS visitors
FROM (SELECT DISTINCT site_id, visitor_id, toMonday(event_time) AS week FROM events WHERE is_bot = 0)
ALL INNER JOIN (
  SELECT site_id, visitor_id, min(toMonday(event_time)) AS cohort FROM events WHERE is_bot = 0 GROUP BY site_id, visitor_id
) USING (site_id, visitor_id)
GROUP BY cohort, weeks_later
ORDER BY cohort, weeks_later`,
  },
  {
    title: "Revenue per UTM campaign: purchases credited to the campaign their session arrived with, one line per currency (never summed across currencies)",
    sql: `SELECT ifNull(campaign, '(none)') AS utm_campaign, currency, count() AS purchases, sum(revenue_micros) / 1000000 AS revenue
FROM (SELECT site_id, session_id, currency, revenue_micros FROM events WHERE type = 'purchase')
ALL LEFT JOIN (
  SELECT site_id, session_id, argMin(utm_campaign, event_time) AS campaign
  FROM events WHERE utm_campaign IS NOT NULL GROUP BY site_id, session_id
) USING (site_id, session_id)
GROUP BY utm_campaign, currency
ORDER BY revenue DESC`,
  },
];
