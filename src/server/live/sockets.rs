//! How many live sockets each user holds open in this process.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// The live sockets open in this process, per user.
#[derive(Default)]
pub struct OpenSockets {
    per_user: Mutex<HashMap<Uuid, usize>>,
}

/// One open socket; closing it (dropping this) frees its place.
pub struct SocketSlot {
    sockets: Arc<OpenSockets>,
    user: Uuid,
}

impl OpenSockets {
    /// A place for one more socket of `user`, unless they already hold `limit`.
    pub fn open(self: &Arc<Self>, user: Uuid, limit: usize) -> Option<SocketSlot> {
        let mut per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        let open = per_user.entry(user).or_insert(0);
        if *open >= limit {
            return None;
        }
        *open += 1;
        Some(SocketSlot {
            sockets: Arc::clone(self),
            user,
        })
    }

    /// How many sockets are open here, all users together.
    pub fn total(&self) -> usize {
        let per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        per_user.values().sum()
    }

    /// How many sockets `user` holds open here.
    pub fn count(&self, user: Uuid) -> usize {
        let per_user = self.per_user.lock().unwrap_or_else(|e| e.into_inner());
        per_user.get(&user).copied().unwrap_or(0)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut per_user = self
            .sockets
            .per_user
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(open) = per_user.get_mut(&self.user) {
            *open -= 1;
            if *open == 0 {
                per_user.remove(&self.user);
            }
        }
    }
}
