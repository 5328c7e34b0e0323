//! The dashboard's view as it lives in the URL (`/dashboard?status=failed,active&q=wal&run=…`), so a
//! view can be shared and survives a reload. Bad parts of a link are reported and ignored; the rest
//! of the view still works.

use super::{RunFilter, RunSort, RunStatus, StatsWindow, SEARCH_MAX_CHARS};
use uuid::Uuid;

/// The status filter's extra choice: every unfinished run.
pub const ACTIVE_CHOICE: &str = "active";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DashboardQuery {
    pub statuses: Vec<RunStatus>,
    pub active: bool,
    pub agent: Option<String>,
    pub search: Option<String>,
    pub sort: RunSort,
    pub window: StatsWindow,
    /// The run open in the detail modal.
    pub run: Option<Uuid>,
}

impl DashboardQuery {
    /// Reads the query parameters through `get`; returns the view and what was wrong with the link.
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> (DashboardQuery, Vec<String>) {
        let mut query = DashboardQuery::default();
        let mut problems = Vec::new();
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
                        Err(err) => problems.push(format!("{err}; it was left out of the filter")),
                    }
                }
            }
        }
        if let Some(agent) = present("agent") {
            if agent.chars().count() <= 100 {
                query.agent = Some(agent);
            } else {
                problems.push("the agent name in the link is longer than 100 characters".into());
            }
        }
        if let Some(search) = present("q") {
            let length = search.chars().count();
            if length <= SEARCH_MAX_CHARS {
                query.search = Some(search);
            } else {
                problems.push(format!(
                    "the search is {length} characters long; the limit is {SEARCH_MAX_CHARS}, so it was ignored"
                ));
            }
        }
        if let Some(sort) = present("sort") {
            match RunSort::parse(&sort) {
                Some(sort) => query.sort = sort,
                None => problems.push(format!(
                    "unknown sort `{}` (expected newest, oldest or longest)",
                    excerpt(&sort)
                )),
            }
        }
        if let Some(window) = present("window") {
            match StatsWindow::parse(&window) {
                Some(window) => query.window = window,
                None => problems.push(format!(
                    "unknown window `{}` (expected 24h, 7d, 30d or all)",
                    excerpt(&window)
                )),
            }
        }
        if let Some(run) = present("run") {
            match Uuid::parse_str(run.trim()) {
                Ok(id) => query.run = Some(id),
                Err(_) => problems.push(format!("`{}` is not a run id", excerpt(&run))),
            }
        }
        (query, problems)
    }

    /// The runs the table shows. The status choices add up: "failed" and "active" is every failed
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
        if let Some(search) = &self.search {
            out.append_pair("q", search);
        }
        if self.sort != RunSort::default() {
            out.append_pair("sort", self.sort.as_str());
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
    pub fn without_run(&self) -> DashboardQuery {
        DashboardQuery {
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

    fn parse(query: &str) -> (DashboardQuery, Vec<String>) {
        let pairs: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        DashboardQuery::parse(|key| pairs.get(key).cloned())
    }

    #[test]
    fn a_view_survives_the_round_trip_through_its_url() {
        let view = DashboardQuery {
            statuses: vec![RunStatus::Failed, RunStatus::TimedOut],
            active: true,
            agent: Some("coder".into()),
            search: Some("wal & fsync?".into()),
            sort: RunSort::Longest,
            window: StatsWindow::Week,
            run: Some(Uuid::from_u128(9)),
        };
        let url = view.to_query();
        assert!(
            url.starts_with("?status=failed%2Ctimed_out%2Cactive&agent=coder&q=wal+%26+fsync%3F")
        );
        assert_eq!(parse(&url[1..]), (view, vec![]));
        assert_eq!(DashboardQuery::default().to_query(), "");
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
}
