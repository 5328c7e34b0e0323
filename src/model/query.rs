//! One dialect for asking for a list of runs, wherever the question comes from: the dashboard's URL
//! (`/dashboard?status=failed,active&q=wal&run=…`), `GET /api/v1/runs` and its export. The view lives
//! in the URL, so it can be shared and survives a reload. The older names stay accepted: `search`
//! for `q`, `active=true` for `status=active`.

use super::{RunFilter, RunSort, RunStatus, StatsWindow, AGENT_NAME_MAX_CHARS, SEARCH_MAX_CHARS};
use uuid::Uuid;

/// The status filter's extra choice: every unfinished run.
pub const ACTIVE_CHOICE: &str = "active";

/// Every parameter of the dialect, old names included.
pub const RUN_QUERY_PARAMETERS: &[&str] = &[
    "status", "active", "agent", "task_id", "q", "search", "sort", "cursor", "limit", "window",
    "run",
];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    pub statuses: Vec<RunStatus>,
    pub active: bool,
    pub agent: Option<String>,
    pub task_id: Option<Uuid>,
    pub search: Option<String>,
    pub sort: RunSort,
    /// Where the page starts: a previous page's `next_cursor` (checked against `sort` when read).
    pub cursor: Option<String>,
    /// Runs per page (checked when read).
    pub limit: Option<u32>,
    pub window: StatsWindow,
    /// The run open in the dashboard's detail modal.
    pub run: Option<Uuid>,
}

/// What was wrong with one parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryProblem {
    /// The parameter, by its current name.
    pub field: &'static str,
    pub message: String,
    /// Not even of the right shape (a `limit` that is no number, a `task_id` that is no UUID), as
    /// opposed to a well-formed value that is not allowed.
    pub malformed: bool,
}

impl std::fmt::Display for QueryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl RunQuery {
    /// Reads the parameters through `get`; returns the query and what was wrong with it, as text.
    /// What was wrong is left out of the query; the rest applies.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> (RunQuery, Vec<String>) {
        let (query, problems) = Self::parse_checked(get);
        (query, problems.iter().map(ToString::to_string).collect())
    }

    /// [`RunQuery::parse`], with each problem's parameter and kind.
    pub fn parse_checked(get: impl Fn(&str) -> Option<String>) -> (RunQuery, Vec<QueryProblem>) {
        let mut query = RunQuery::default();
        let mut problems = Vec::new();
        let mut problem = |field, message: String, malformed| {
            problems.push(QueryProblem {
                field,
                message,
                malformed,
            })
        };
        let present = |key| get(key).filter(|v| !v.trim().is_empty());
        if let Some(statuses) = present("status") {
            for name in statuses.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if name == ACTIVE_CHOICE {
                    query.active = true;
                } else {
                    match name.parse::<RunStatus>() {
                        Ok(status) if !query.statuses.contains(&status) => {
                            query.statuses.push(status)
                        }
                        Ok(_) => {}
                        Err(err) => problem("status", err.to_string(), false),
                    }
                }
            }
        }
        if let Some(active) = present("active") {
            match active.trim() {
                "true" => query.active = true,
                "false" => {}
                other => problem(
                    "active",
                    format!("active must be true or false, not `{}`", excerpt(other)),
                    true,
                ),
            }
        }
        if let Some(agent) = present("agent") {
            if agent.chars().count() <= AGENT_NAME_MAX_CHARS {
                query.agent = Some(agent);
            } else {
                problem(
                    "agent",
                    format!("the agent name is longer than {AGENT_NAME_MAX_CHARS} characters"),
                    false,
                );
            }
        }
        if get("task_id").is_some_and(|v| v.trim().is_empty()) {
            problem(
                "task_id",
                "task_id is empty: give a task id or leave it out".into(),
                true,
            );
        }
        if let Some(task_id) = present("task_id") {
            // a UUID, or the text a run was started with ("task_123"), which maps to the same UUID
            match super::TaskId::parse(&task_id) {
                Ok(id) => query.task_id = Some(id.uuid),
                Err(_) => problem(
                    "task_id",
                    format!("`{}` is not a task id", excerpt(&task_id)),
                    true,
                ),
            }
        }
        if let Some(search) = present("q").or_else(|| present("search")) {
            let length = search.chars().count();
            if length <= SEARCH_MAX_CHARS {
                query.search = Some(search);
            } else {
                problem(
                    "q",
                    format!(
                        "the search is {length} characters long; the limit is {SEARCH_MAX_CHARS}"
                    ),
                    false,
                );
            }
        }
        if let Some(sort) = present("sort") {
            match RunSort::parse(&sort) {
                Some(sort) => query.sort = sort,
                None => problem(
                    "sort",
                    format!(
                        "unknown sort `{}` (expected newest, oldest or longest)",
                        excerpt(&sort)
                    ),
                    false,
                ),
            }
        }
        query.cursor = present("cursor");
        if let Some(limit) = present("limit") {
            match limit.trim().parse::<u32>() {
                Ok(limit) => query.limit = Some(limit),
                Err(_) => problem(
                    "limit",
                    format!("`{}` is not a number of runs", excerpt(&limit)),
                    true,
                ),
            }
        }
        if let Some(window) = present("window") {
            match StatsWindow::parse(&window) {
                Some(window) => query.window = window,
                None => problem(
                    "window",
                    format!(
                        "unknown window `{}` (expected 24h, 7d, 30d or all)",
                        excerpt(&window)
                    ),
                    false,
                ),
            }
        }
        if get("run").is_some_and(|v| v.trim().is_empty()) {
            problem(
                "run",
                "run is empty: give a run id or leave it out".into(),
                false,
            );
        }
        if let Some(run) = present("run") {
            match Uuid::parse_str(run.trim()) {
                Ok(id) => query.run = Some(id),
                Err(_) => problem("run", format!("`{}` is not a run id", excerpt(&run)), false),
            }
        }
        (query, problems)
    }

    /// The parameters among `keys` that are no part of the dialect (nor one of `extra`).
    pub fn unknown<'a>(keys: impl IntoIterator<Item = &'a str>, extra: &[&str]) -> Vec<String> {
        keys.into_iter()
            .filter(|key| !RUN_QUERY_PARAMETERS.contains(key) && !extra.contains(key))
            .map(excerpt)
            .collect()
    }

    /// The runs the list shows. The status choices add up: "failed" and "active" is every failed
    /// run and every unfinished one.
    pub fn filter(&self) -> RunFilter {
        let mut statuses = self.statuses.clone();
        if self.active && !statuses.is_empty() {
            statuses.extend(RunStatus::ALL.into_iter().filter(|s| s.is_active()));
            statuses.sort();
            statuses.dedup();
        }
        RunFilter {
            active_only: self.active && self.statuses.is_empty(),
            statuses,
            agent_name: self.agent.clone(),
            task_id: self.task_id,
            search: self.search.clone(),
            ..Default::default()
        }
    }

    /// The query string of this view ("" for the default view), to append to `/dashboard` or an
    /// export address.
    pub fn to_query(&self) -> String {
        let mut out = form_urlencoded::Serializer::new(String::new());
        let mut statuses: Vec<&str> = self.statuses.iter().map(|s| s.as_str()).collect();
        if self.active {
            statuses.push(ACTIVE_CHOICE);
        }
        if !statuses.is_empty() {
            out.append_pair("status", &statuses.join(","));
        }
        if let Some(agent) = &self.agent {
            out.append_pair("agent", agent);
        }
        if let Some(task_id) = self.task_id {
            out.append_pair("task_id", &task_id.to_string());
        }
        if let Some(search) = &self.search {
            out.append_pair("q", search);
        }
        if self.sort != RunSort::default() {
            out.append_pair("sort", self.sort.as_str());
        }
        if let Some(cursor) = &self.cursor {
            out.append_pair("cursor", cursor);
        }
        if let Some(limit) = self.limit {
            out.append_pair("limit", &limit.to_string());
        }
        if self.window != StatsWindow::default() {
            out.append_pair("window", self.window.as_str());
        }
        if let Some(run) = self.run {
            out.append_pair("run", &run.to_string());
        }
        let query = out.finish();
        if query.is_empty() {
            query
        } else {
            format!("?{query}")
        }
    }

    /// The same view with the modal closed (what export links and the table use).
    pub fn without_run(&self) -> RunQuery {
        RunQuery {
            run: None,
            ..self.clone()
        }
    }
}

/// User text quoted back in an error, cut so a 10 KB parameter does not become a 10 KB message.
fn excerpt(text: &str) -> String {
    let mut cut: String = text.chars().take(40).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(query: &str) -> (RunQuery, Vec<String>) {
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        RunQuery::parse(|key| pairs.get(key).cloned())
    }

    #[test]
    fn a_view_survives_the_round_trip_through_its_url() {
        let view = RunQuery {
            statuses: vec![RunStatus::Failed, RunStatus::TimedOut],
            active: true,
            agent: Some("coder".into()),
            search: Some("wal & fsync?".into()),
            sort: RunSort::Longest,
            window: StatsWindow::Week,
            run: Some(Uuid::from_u128(9)),
            ..Default::default()
        };
        let url = view.to_query();
        assert!(
            url.starts_with("?status=failed%2Ctimed_out%2Cactive&agent=coder&q=wal+%26+fsync%3F")
        );
        assert_eq!(parse(&url[1..]), (view, vec![]));
        assert_eq!(RunQuery::default().to_query(), "");
    }

    #[test]
    fn status_choices_add_up() {
        let (view, _) = parse("status=failed,active");
        let filter = view.filter();
        assert!(!filter.active_only);
        assert!(filter.statuses.contains(&RunStatus::Failed));
        assert!(filter.statuses.contains(&RunStatus::InProgress));
        assert!(!filter.statuses.contains(&RunStatus::Completed));
        let (view, _) = parse("status=active");
        assert!(view.filter().active_only && view.filter().statuses.is_empty());
    }

    #[test]
    fn bad_parts_are_reported_and_dropped_the_rest_applies() {
        let long = "x".repeat(10_000);
        let (view, problems) = parse(&format!(
            "status=failed,bogus,active&q={long}&sort=sideways&window=1y&run=nope&agent=coder"
        ));
        assert_eq!(view.statuses, vec![RunStatus::Failed]);
        assert!(view.active);
        assert_eq!(view.agent.as_deref(), Some("coder"));
        assert_eq!(view.search, None);
        assert_eq!(view.sort, RunSort::Newest);
        assert_eq!(view.window, StatsWindow::Day);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[0].contains("unknown run status `bogus`"));
        assert!(problems[1].contains("10000 characters"));
        assert!(problems.iter().all(|p| p.len() < 300), "{problems:?}");
    }

    #[test]
    fn the_old_names_still_work_and_the_new_win() {
        let (old, problems) =
            parse("search=wal&active=true&limit=7&task_id=00000000-0000-0000-0000-000000000009");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(old.search.as_deref(), Some("wal"));
        assert!(old.filter().active_only);
        assert_eq!(old.limit, Some(7));
        assert_eq!(old.filter().task_id, Some(Uuid::from_u128(9)));
        let (both, _) = parse("search=old&q=new");
        assert_eq!(both.search.as_deref(), Some("new"));
        let (_, problems) = RunQuery::parse_checked(|key| match key {
            "limit" => Some("many".into()),
            "active" => Some("maybe".into()),
            _ => None,
        });
        assert!(problems.iter().all(|p| p.malformed), "{problems:?}");
        assert_eq!(
            RunQuery::unknown(["q", "colour", "format"], &["format"]),
            vec!["colour".to_owned()]
        );
    }
}
