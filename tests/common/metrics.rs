//! Reading `/metrics` as a scraper does.

/// The Prometheus text at `url`, asked for with `token`; it must be a 200 in the text format.
pub async fn scrape(url: &str, token: &str) -> String {
    let response = super::agent()
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample `name{labels}` (labels exactly as rendered, sorted by the exporter),
/// 0 when it is not there yet.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse::<f64>().unwrap())
        })
        .unwrap_or(0.0)
}
