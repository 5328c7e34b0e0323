//! Resources whose data crosses from the server's HTML to the browser as JSON read from bytes.
//!
//! A leptos `Resource` decodes what the server streamed with `serde_json::from_str`; server
//! functions and the live socket decode with `serde_json::from_slice`. serde_json's deserializer is
//! generic over its reader, so every type the browser receives was compiled twice into the WASM,
//! once per reader: 44 copies of `deserialize_struct` alone, 128 KB (twiggy). [`BytesJson`] reads
//! the resource's text as bytes, so there is one reader and one copy of each type's decoder.

use leptos::prelude::*;
use leptos::server::codee::{Decoder, Encoder};
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// JSON, written as text and read back as bytes ([`serde_json::from_slice`]).
pub struct BytesJson;

impl<T: Serialize> Encoder<T> for BytesJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for BytesJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(text: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(text.as_bytes())
    }
}

/// A resource loaded on the server and handed to the browser through [`BytesJson`].
pub type PageResource<T> = Resource<T, BytesJson>;

/// [`Resource::new`] with [`BytesJson`]: `fetcher` runs whenever `source` changes.
#[track_caller]
pub fn page_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> PageResource<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: PartialEq + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}
