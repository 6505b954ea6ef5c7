//! The users of an example app, in memory, standing in for its database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use affitor::ClickId;

use crate::signup::{SignupError, SignupForm};

/// A user of the example app.
#[derive(Clone, Debug)]
pub struct User {
    /// The user's id, sent to Affitor as the `customer_key`.
    pub id: String,
    /// The user's email.
    pub email: String,
    /// The click id the user signed up with, kept for the Stripe metadata of a later checkout.
    pub click_id: Option<ClickId>,
}

/// An in-memory user store, standing in for the app's database.
#[derive(Clone, Debug, Default)]
pub struct Users {
    inner: Arc<UsersInner>,
}

#[derive(Debug, Default)]
struct UsersInner {
    table: Mutex<UserTable>,
}

#[derive(Debug, Default)]
struct UserTable {
    by_id: HashMap<String, User>,
    /// The lower-cased emails in use.
    emails: HashSet<String>,
}

impl Users {
    /// Creates a user, remembering the click id they came with.
    pub fn create(
        &self,
        form: &SignupForm,
        click_id: Option<ClickId>,
    ) -> Result<User, SignupError> {
        let email = form.email.trim();
        if !email.contains('@') || email.len() > 254 {
            return Err(SignupError::InvalidEmail);
        }
        if form.password.len() < 8 {
            return Err(SignupError::WeakPassword);
        }
        let mut table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !table.emails.insert(email.to_ascii_lowercase()) {
            return Err(SignupError::EmailTaken);
        }
        let user = User {
            id: new_user_id(),
            email: email.to_owned(),
            click_id,
        };
        table.by_id.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    /// The user with this id.
    pub fn get(&self, id: &str) -> Option<User> {
        let table = self
            .inner
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table.by_id.get(id).cloned()
    }
}

/// A new user id: 96 random bits, so that no one reaches another user's checkout (their email
/// and click id) by guessing an id next to their own.
fn new_user_id() -> String {
    let mut bytes = [0u8; 12];
    // The OS's random source does not fail on the platforms the examples run on; if it ever
    // did, the process could not make a safe id at all.
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("user_{hex}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap.

    use super::*;

    #[test]
    fn user_ids_are_random() {
        let users = Users::default();
        let form = |email: &str| SignupForm {
            email: email.to_owned(),
            password: "correct horse".to_owned(),
        };
        let a = users.create(&form("a@example.com"), None).unwrap();
        let b = users.create(&form("b@example.com"), None).unwrap();
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.len(), "user_".len() + 24);
    }
}
