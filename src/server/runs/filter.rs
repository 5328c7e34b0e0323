//! A [`RunFilter`] as SQL: the WHERE clause every run list, export and live replay shares.

use crate::model::RunFilter;
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

/// `SELECT id FROM agent_runs WHERE <the fixed parts of filter>`, for use as a subquery: statuses
/// change, so live subscriptions are narrowed only by what never does.
pub fn push_matching_ids(
    query: &mut QueryBuilder<'_, Postgres>,
    owner: Option<Uuid>,
    filter: &RunFilter,
) {
    let identity = RunFilter {
        statuses: vec![],
        active_only: false,
        ..filter.clone()
    };
    query.push("SELECT id FROM agent_runs");
    push_filter(query, owner, &identity);
}

/// How a filter's search is applied.
#[derive(Clone, Copy)]
pub(super) enum SearchBy {
    /// Through the trigram index (`search_run_ids`), for queries over all of a user's runs.
    Index,
    /// Row by row, for a query over a bounded set of rows already read.
    Scan,
}

/// The WHERE clause of a run filter. `owner` names the user explicitly (RLS would filter anyway) so
/// the planner can use the (user_id, ...) indexes.
pub(super) fn push_filter(
    query: &mut QueryBuilder<'_, Postgres>,
    owner: Option<Uuid>,
    filter: &RunFilter,
) {
    push_filter_with(query, owner, filter, SearchBy::Index);
}

pub(super) fn push_filter_with(
    query: &mut QueryBuilder<'_, Postgres>,
    owner: Option<Uuid>,
    filter: &RunFilter,
    search_by: SearchBy,
) {
    query.push(" WHERE true");
    if let Some(user_id) = owner {
        query.push(" AND user_id = ").push_bind(user_id);
    }
    if !filter.statuses.is_empty() {
        query
            .push(" AND status = ANY(")
            .push_bind(filter.statuses.clone())
            .push(")");
    }
    if filter.active_only {
        query.push(" AND status NOT IN ('completed', 'failed', 'cancelled', 'timed_out')");
    }
    if let Some(agent) = &filter.agent_name {
        query.push(" AND agent_name = ").push_bind(agent.clone());
    }
    if let Some(task_id) = filter.task_id {
        query.push(" AND task_id = ").push_bind(task_id);
    }
    if let Some(run_id) = filter.run_id {
        query.push(" AND id = ").push_bind(run_id);
    }
    if let Some(search) = filter.search_text() {
        let pattern = format!("%{}%", escape_like(search));
        let id_prefix = format!("{}%", escape_like(&search.to_ascii_lowercase()));
        match search_by {
            SearchBy::Index => query
                .push(" AND id IN (SELECT search_run_ids(")
                .push_bind(owner)
                .push(", lower(")
                .push_bind(pattern)
                .push("), ")
                .push_bind(id_prefix)
                .push("))"),
            SearchBy::Scan => query
                .push(" AND (run_search_text(agent_name, task, current_step) LIKE lower(")
                .push_bind(pattern)
                .push(") OR id::text LIKE ")
                .push_bind(id_prefix)
                .push(")"),
        };
    }
}

/// Makes user text match literally inside a LIKE pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_match_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
