//! What an LLM call costs: a table of prices per million tokens, by model, and the sum for a call.
//! The table ships as `data/prices.json` (with its date and sources); an operator's own file
//! (`RUNWIRE_PRICES`) overrides or extends it. A model the table does not know has no cost: shown as
//! unknown, never as 0.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// USD per million tokens of one model.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
    /// A cached input token (a cache read); default: the input price.
    #[serde(default)]
    pub cached_input: Option<f64>,
}

/// A price table file: `data/prices.json`, or the operator's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    #[serde(default)]
    pub about: Option<String>,
    /// When the prices were read from their sources.
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub sources: Vec<String>,
    pub models: BTreeMap<String, ModelPrice>,
}

/// Tokens of one call, as its span reports them. `input` includes the cache reads, as the
/// OpenTelemetry GenAI conventions count them; reasoning tokens are part of `output`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TokenUse {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
}

impl PriceTable {
    /// The table shipped with runwire.
    pub fn shipped() -> PriceTable {
        serde_json::from_str(include_str!("../../data/prices.json"))
            .expect("data/prices.json is a valid price table")
    }

    /// Checks every price is a finite number >= 0.
    pub fn validate(&self) -> Result<(), String> {
        for (model, price) in &self.models {
            let prices = [price.input, price.output, price.cached_input.unwrap_or(0.0)];
            if prices.iter().any(|p| !p.is_finite() || *p < 0.0) {
                return Err(format!("the price of `{model}` is not a number >= 0"));
            }
        }
        Ok(())
    }

    /// `other`'s models added to this table, replacing those of the same name.
    pub fn overridden_by(mut self, other: PriceTable) -> PriceTable {
        self.models.extend(
            other
                .models
                .into_iter()
                .map(|(name, price)| (name.to_lowercase(), price)),
        );
        self.date = other.date.or(self.date);
        self.sources.extend(other.sources);
        self
    }

    /// The price of `model`: its exact name (case-insensitive, without a `provider/` prefix), or the
    /// longest known name it starts with followed by `-` (`gpt-4o-2024-08-06` is `gpt-4o`).
    pub fn price_of(&self, model: &str) -> Option<ModelPrice> {
        let name = model.rsplit('/').next().unwrap_or(model).to_lowercase();
        if let Some(price) = self.models.get(&name) {
            return Some(*price);
        }
        self.models
            .iter()
            .filter(|(known, _)| {
                name.strip_prefix(known.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
            })
            .max_by_key(|(known, _)| known.len())
            .map(|(_, price)| *price)
    }

    /// The cost in USD of a call of `model` that used `tokens`; None when the model has no price.
    pub fn cost(&self, model: &str, tokens: TokenUse) -> Option<f64> {
        let price = self.price_of(model)?;
        let cached = tokens.cache_read.clamp(0, tokens.input.max(0));
        let fresh = tokens.input.max(0) - cached;
        let cost = fresh as f64 * price.input
            + cached as f64 * price.cached_input.unwrap_or(price.input)
            + tokens.output.max(0) as f64 * price.output;
        Some(cost / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_table_is_valid_dated_and_sourced() {
        let table = PriceTable::shipped();
        table.validate().unwrap();
        assert!(table.date.is_some());
        assert!(!table.sources.is_empty());
        assert!(table.models.len() >= 10);
    }

    #[test]
    fn dated_and_prefixed_names_find_the_longest_matching_model() {
        let table = PriceTable::shipped();
        let mini = table.models["gpt-4o-mini"];
        assert_eq!(table.price_of("gpt-4o-mini-2024-07-18"), Some(mini));
        assert_eq!(table.price_of("openai/GPT-4o-mini"), Some(mini));
        assert_eq!(
            table.price_of("gpt-4o-2024-08-06"),
            Some(table.models["gpt-4o"])
        );
        assert_eq!(
            table.price_of("claude-sonnet-4-20250514"),
            Some(table.models["claude-sonnet-4"])
        );
        // a name that merely starts with a known one's letters is not that model
        assert_eq!(table.price_of("gpt-4omega"), None);
        assert_eq!(table.price_of("my-own-model"), None);
    }

    #[test]
    fn cached_input_is_billed_at_its_own_rate_and_unknown_models_cost_nothing_known() {
        let table = PriceTable::shipped().overridden_by(PriceTable {
            models: [(
                "Test-Model".to_owned(),
                ModelPrice {
                    input: 2.0,
                    output: 10.0,
                    cached_input: Some(0.5),
                },
            )]
            .into(),
            ..Default::default()
        });
        let tokens = TokenUse {
            input: 1_000_000,
            output: 100_000,
            cache_read: 400_000,
        };
        // 600k fresh at 2.00 + 400k cached at 0.50 + 100k out at 10.00
        let cost = table.cost("test-model", tokens).unwrap();
        assert!((cost - (1.2 + 0.2 + 1.0)).abs() < 1e-9, "{cost}");
        assert_eq!(table.cost("unknown-model", tokens), None);
        // more cache reads than input tokens cannot make a negative cost
        let odd = TokenUse {
            input: 10,
            output: 0,
            cache_read: 50,
        };
        assert!(table.cost("test-model", odd).unwrap() >= 0.0);
    }
}
