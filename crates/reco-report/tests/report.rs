//! The report on generated traffic in an in-memory lake (no service needed): exact counts
//! against a naive reference, an A/B with higher treatment propensities found significant in
//! the right direction, an A/A (same propensities, fixed seeds) found not significant.

mod support;

use reco_aws::Bucket;
use reco_report::Report;
use support::{Propensities, Traffic};

const BASE: Propensities = Propensities {
    click: 0.08,
    cart_after_click: 0.35,
    purchase_after_cart: 0.5,
};

fn traffic(seed: u64, treatment: Propensities) -> Traffic {
    Traffic {
        customers: 1_500,
        sessions_per_customer: 6,
        items_per_recommendation: 4,
        seed,
        control: BASE,
        treatment,
    }
}

async fn report_of(traffic: &Traffic) -> (Report, Vec<support::Row>) {
    let rows = support::generate(traffic);
    let lake = Bucket::in_memory("lake");
    let objects = support::write_lake(&lake, &rows).await;
    let mut days = Vec::new();
    let report = reco_report::run(&lake, &support::config(), &mut |day, _| days.push(day))
        .await
        .unwrap();
    assert_eq!(report.read.objects as usize, objects);
    assert_eq!(report.read.rows as usize, rows.len());
    // The three impression days, one more for the window and one for late arrivals.
    assert_eq!(days.len(), 5);
    (report, rows)
}

fn check_against_reference(report: &Report, rows: &[support::Row]) {
    let expected = support::reference(rows, 24);
    assert_eq!(report.variants.len(), 2);
    for v in &report.variants {
        let e = &expected[&v.variant];
        assert_eq!(
            (
                v.impressions,
                v.customers,
                v.click_through.successes,
                v.add_to_cart.successes,
                v.purchase.successes
            ),
            (e.impressions, e.customers, e.clicks, e.carts, e.purchases),
            "{}",
            v.variant
        );
    }
    assert!(report.duplicate_impression_events > 0);
    assert_eq!(report.customers_in_several_variants, 0);
    assert_eq!(report.state_bytes % 16, 0);
}

#[tokio::test]
async fn an_ab_test_with_better_treatment_is_significant_in_the_right_direction() {
    let better = Propensities {
        click: 0.11,
        cart_after_click: 0.45,
        purchase_after_cart: 0.5,
    };
    let (report, rows) = report_of(&traffic(7, better)).await;
    check_against_reference(&report, &rows);
    for metric in ["click_through", "add_to_cart", "purchase"] {
        let d = report.difference("treatment", metric).unwrap();
        assert_eq!(d.versus, "control");
        assert!(d.difference > 0.0, "{d:?}");
        assert!(d.significant, "{metric}: {d:?}");
        assert_eq!(d.significance_basis, "customers");
        let customer_ci = d.customer_ci.unwrap();
        assert!(customer_ci.low > 0.0, "{d:?}");
        assert!(d.ci.low > 0.0 && d.p_value < 0.05, "{d:?}");
    }
    let text = report.render();
    eprintln!("{text}");
    assert!(
        text.contains("treatment - control: click-through"),
        "{text}"
    );
    assert!(text.contains(" yes"), "{text}");
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["experiment"], "rec-ranker-v2");
    assert_eq!(json["variants"][1]["variant"], "treatment");
    assert!(json["variants"][0]["click_through"]["customer_ci"]["low"].is_f64());
    assert_eq!(json["differences"][2]["metric"], "purchase");
    assert_eq!(json["differences"][2]["significant"], true);
}

/// Customers' impressions correlate (one propensity per customer), so the customer-level
/// interval is wider than the impression-level one.
#[tokio::test]
async fn an_aa_test_is_not_significant_and_customer_intervals_are_wider() {
    let (report, rows) = report_of(&traffic(11, BASE)).await;
    check_against_reference(&report, &rows);
    for metric in ["click_through", "add_to_cart", "purchase"] {
        let d = report.difference("treatment", metric).unwrap();
        assert!(!d.significant, "{metric}: {d:?}");
        let (c, i) = (d.customer_ci.unwrap(), d.ci);
        assert!(c.low < 0.0 && c.high > 0.0, "{d:?}");
        assert!(c.high - c.low > i.high - i.low, "{d:?}");
    }
    assert!(report.render().contains(" no"));
}
