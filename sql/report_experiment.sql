-- The attribution report of one experiment (what `reco report --experiment NAME` prints), for
-- Athena over the Glue table click_events (the raw events in the data lake, partition dt).
--
-- Parameters: the four placeholders of the params block below, in this order:
--   1. experiment    the experiment's name, as rec_impression events carry it ('rec-ranker-v2')
--   2. from_dt       first arrival date of the impressions counted, 'YYYY-MM-DD' (UTC)
--   3. to_dt         last arrival date of the impressions counted, inclusive, 'YYYY-MM-DD'
--   4. window_hours  attribution window in hours (24)
-- Run it in the data lake's Glue database, e.g.
--   aws athena start-query-execution --query-string file://sql/report_experiment.sql \
--     --query-execution-context Database=DATA_LAKE_DB --work-group primary \
--     --execution-parameters "'rec-ranker-v2'" "'2026-03-01'" "'2026-03-14'" "24"
-- The control variant is the literal 'control' in the params block.
--
-- The same computation as crates/reco-report (keep them in step):
-- - unit: one (recommendation_id, item) shown in a rec_impression of the experiment whose dt is
--   in from_dt..to_dt, at its earliest time (a redelivered event or the same recommendation
--   shown again is counted once); time = event_time, else arrival_time;
-- - click-through: the unit followed by a rec_click on the same recommendation_id and item within
--   [t, t + window]; add-to-cart and purchase: an add_to_cart / purchase of the same item by the
--   same customer within [t, t + window]; outcomes are read up to ceil(window / 24 h) + 1 days
--   after to_dt (the lake is partitioned by arrival date);
-- - per rate: the 95% Wilson interval (impressions as independent trials) and the 95% interval
--   with customers as the independent units (delta method: K/(K-1) * sum((y_i - R n_i)^2) / N^2);
-- - per variant other than the control, per rate: the difference, its unpooled 95% interval, the
--   pooled two-proportion z and two-sided p-value, the customer-level interval and p-value, and
--   significant = customer-level p < 0.05 (impression-level p when a side has < 2 customers);
-- - p-values through erfc by the Numerical Recipes Chebyshev fit (fractional error < 1.2e-7).
-- Written in the SQL that Athena (Trino) and PostgreSQL share: crates/reco-report's integration
-- test runs this file on PostgreSQL against generated events and compares every figure with the
-- Rust report.
WITH params AS (
    SELECT
        CAST(? AS varchar) AS experiment,
        CAST(? AS varchar) AS from_dt,
        CAST(? AS varchar) AS to_dt,
        CAST(? AS integer) AS window_hours,
        'control' AS control,
        1.959963984540054 AS z95
),
bounds AS (
    SELECT
        p.*,
        CAST(CAST(CAST(p.to_dt AS date) + INTERVAL '1' DAY * ((p.window_hours + 23) / 24 + 1) AS date) AS varchar)
            AS outcomes_to_dt
    FROM params p
),
impression_events AS (
    SELECT
        e.recommendation_id,
        e.item,
        e.customer_number,
        e.variant,
        COALESCE(e.event_time, e.arrival_time) AS t,
        ROW_NUMBER() OVER (
            PARTITION BY e.recommendation_id, e.item
            ORDER BY COALESCE(e.event_time, e.arrival_time), e.variant
        ) AS nth
    FROM click_events e
    CROSS JOIN bounds b
    WHERE e.dt BETWEEN b.from_dt AND b.to_dt
      AND e.event_type = 'rec_impression'
      AND e.experiment = b.experiment
      AND e.variant IS NOT NULL
      AND e.recommendation_id IS NOT NULL
      AND e.item IS NOT NULL AND e.item <> ''
),
units AS (
    SELECT recommendation_id, item, customer_number, variant, t
    FROM impression_events
    WHERE nth = 1
),
outcomes AS (
    SELECT
        e.event_type,
        e.recommendation_id,
        e.item,
        e.customer_number,
        COALESCE(e.event_time, e.arrival_time) AS t
    FROM click_events e
    CROSS JOIN bounds b
    WHERE e.dt BETWEEN b.from_dt AND b.outcomes_to_dt
      AND e.event_type IN ('rec_click', 'add_to_cart', 'purchase')
      AND e.item IS NOT NULL AND e.item <> ''
),
clicked AS (
    SELECT DISTINCT u.recommendation_id, u.item
    FROM units u
    CROSS JOIN bounds b
    JOIN outcomes o
      ON o.event_type = 'rec_click'
     AND o.recommendation_id = u.recommendation_id
     AND o.item = u.item
     AND o.t >= u.t
     AND o.t <= u.t + INTERVAL '1' HOUR * b.window_hours
),
carted AS (
    SELECT DISTINCT u.recommendation_id, u.item
    FROM units u
    CROSS JOIN bounds b
    JOIN outcomes o
      ON o.event_type = 'add_to_cart'
     AND o.customer_number = u.customer_number
     AND o.item = u.item
     AND o.t >= u.t
     AND o.t <= u.t + INTERVAL '1' HOUR * b.window_hours
),
purchased AS (
    SELECT DISTINCT u.recommendation_id, u.item
    FROM units u
    CROSS JOIN bounds b
    JOIN outcomes o
      ON o.event_type = 'purchase'
     AND o.customer_number = u.customer_number
     AND o.item = u.item
     AND o.t >= u.t
     AND o.t <= u.t + INTERVAL '1' HOUR * b.window_hours
),
attributed AS (
    SELECT
        u.variant,
        u.customer_number,
        CASE WHEN c.item IS NULL THEN 0 ELSE 1 END AS clicked,
        CASE WHEN a.item IS NULL THEN 0 ELSE 1 END AS carted,
        CASE WHEN p.item IS NULL THEN 0 ELSE 1 END AS purchased
    FROM units u
    LEFT JOIN clicked c ON c.recommendation_id = u.recommendation_id AND c.item = u.item
    LEFT JOIN carted a ON a.recommendation_id = u.recommendation_id AND a.item = u.item
    LEFT JOIN purchased p ON p.recommendation_id = u.recommendation_id AND p.item = u.item
),
per_customer AS (
    SELECT
        variant,
        customer_number,
        COUNT(*) AS n,
        SUM(clicked) AS y_click,
        SUM(carted) AS y_cart,
        SUM(purchased) AS y_purchase
    FROM attributed
    GROUP BY variant, customer_number
),
metric_sums AS (
    SELECT variant, 'click_through' AS metric, 1 AS metric_order, customer_number, n, y_click AS y
    FROM per_customer
    UNION ALL
    SELECT variant, 'add_to_cart', 2, customer_number, n, y_cart FROM per_customer
    UNION ALL
    SELECT variant, 'purchase', 3, customer_number, n, y_purchase FROM per_customer
),
sums AS (
    SELECT
        variant,
        metric,
        metric_order,
        COUNT(*) AS customers,
        SUM(n) AS impressions,
        SUM(y) AS successes,
        SUM(n * n) * 1e0 AS n2,
        SUM(y * y) * 1e0 AS y2,
        SUM(y * n) * 1e0 AS yn
    FROM metric_sums
    GROUP BY variant, metric, metric_order
),
rates AS (
    SELECT
        s.*,
        s.successes * 1e0 / s.impressions AS rate,
        -- Wilson: centre and half width.
        (s.successes * 1e0 / s.impressions + b.z95 * b.z95 / (2e0 * s.impressions))
            / (1e0 + b.z95 * b.z95 / s.impressions) AS wilson_centre,
        b.z95 / (1e0 + b.z95 * b.z95 / s.impressions) * SQRT(GREATEST(
            (s.successes * 1e0 / s.impressions) * (1e0 - s.successes * 1e0 / s.impressions)
                / s.impressions
            + b.z95 * b.z95 / (4e0 * s.impressions * s.impressions), 0e0)) AS wilson_half,
        -- Delta-method variance with customers as units.
        CASE WHEN s.customers >= 2 THEN
            s.customers * 1e0 / (s.customers - 1)
            * GREATEST(s.y2 - 2e0 * (s.successes * 1e0 / s.impressions) * s.yn
                + (s.successes * 1e0 / s.impressions) * (s.successes * 1e0 / s.impressions) * s.n2, 0e0)
            / (s.impressions * 1e0 * s.impressions)
        END AS customer_variance
    FROM sums s
    CROSS JOIN bounds b
),
comparisons AS (
    SELECT
        t.variant,
        t.metric,
        c.variant AS versus,
        t.rate - c.rate AS difference,
        SQRT(t.rate * (1e0 - t.rate) / t.impressions + c.rate * (1e0 - c.rate) / c.impressions)
            AS unpooled_se,
        SQRT(GREATEST(
            ((t.successes + c.successes) * 1e0 / (t.impressions + c.impressions))
            * (1e0 - (t.successes + c.successes) * 1e0 / (t.impressions + c.impressions))
            * (1e0 / t.impressions + 1e0 / c.impressions), 0e0)) AS pooled_se,
        SQRT(t.customer_variance + c.customer_variance) AS customer_se
    FROM rates t
    JOIN rates c ON c.metric = t.metric
    CROSS JOIN bounds b
    WHERE c.variant = b.control AND t.variant <> b.control
),
statistics AS (
    SELECT
        m.*,
        CASE WHEN m.pooled_se > 0 THEN m.difference / m.pooled_se ELSE 0e0 END AS z,
        CASE WHEN m.customer_se > 0 THEN m.difference / m.customer_se END AS customer_z
    FROM comparisons m
),
-- erfc(|z| / sqrt 2) by the Chebyshev fit: x, then t = 1 / (1 + x / 2).
tails AS (
    SELECT
        s.*,
        1e0 / (1e0 + 0.5e0 * ABS(s.z) / SQRT(2e0)) AS t_z,
        ABS(s.z) / SQRT(2e0) AS x_z,
        1e0 / (1e0 + 0.5e0 * ABS(s.customer_z) / SQRT(2e0)) AS t_c,
        ABS(s.customer_z) / SQRT(2e0) AS x_c
    FROM statistics s
),
tested AS (
    SELECT
        s.*,
        LEAST(1e0, s.t_z * EXP(-s.x_z * s.x_z - 1.26551223 + s.t_z * (1.00002368 + s.t_z * (0.37409196
            + s.t_z * (0.09678418 + s.t_z * (-0.18628806 + s.t_z * (0.27886807 + s.t_z * (-1.13520398
            + s.t_z * (1.48851587 + s.t_z * (-0.82215223 + s.t_z * 0.17087277)))))))))) AS p_value,
        CASE
            WHEN s.customer_se IS NULL THEN NULL
            WHEN s.customer_se = 0 THEN CASE WHEN s.difference = 0 THEN 1e0 ELSE 0e0 END
            ELSE LEAST(1e0, s.t_c * EXP(-s.x_c * s.x_c - 1.26551223 + s.t_c * (1.00002368 + s.t_c * (0.37409196
                + s.t_c * (0.09678418 + s.t_c * (-0.18628806 + s.t_c * (0.27886807 + s.t_c * (-1.13520398
                + s.t_c * (1.48851587 + s.t_c * (-0.82215223 + s.t_c * 0.17087277))))))))))
        END AS customer_p_value
    FROM tails s
)
SELECT
    r.variant,
    r.metric,
    r.customers,
    r.impressions,
    r.successes,
    r.rate,
    GREATEST(r.wilson_centre - r.wilson_half, 0e0) AS ci_low,
    LEAST(r.wilson_centre + r.wilson_half, 1e0) AS ci_high,
    GREATEST(r.rate - b.z95 * SQRT(r.customer_variance), 0e0) AS customer_ci_low,
    LEAST(r.rate + b.z95 * SQRT(r.customer_variance), 1e0) AS customer_ci_high,
    d.versus,
    d.difference,
    d.difference - b.z95 * d.unpooled_se AS difference_ci_low,
    d.difference + b.z95 * d.unpooled_se AS difference_ci_high,
    d.z,
    d.p_value,
    d.difference - b.z95 * d.customer_se AS difference_customer_ci_low,
    d.difference + b.z95 * d.customer_se AS difference_customer_ci_high,
    d.customer_p_value,
    CASE
        WHEN d.versus IS NULL THEN NULL
        WHEN d.customer_p_value IS NOT NULL THEN d.customer_p_value < 0.05
        ELSE d.p_value < 0.05
    END AS significant
FROM rates r
CROSS JOIN bounds b
LEFT JOIN tested d ON d.variant = r.variant AND d.metric = r.metric
ORDER BY r.variant, r.metric_order
