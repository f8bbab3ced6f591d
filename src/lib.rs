//! Rollcall: the account backbone of a customer-service platform. A SCIM 2.0 service
//! provider and directory-sync daemon that keeps support agents' accounts true to the
//! company's identity provider, directory and HR system.

pub mod accounts;
pub mod api;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod csv_out;
pub mod domain;
pub mod events;
pub mod fast_hash;
pub mod faults;
pub mod http;
pub mod imports;
pub mod logging;
pub mod mail;
pub mod reports;
pub mod scim;
pub mod server;
pub mod sessions;
pub mod sources;
pub mod store;
pub mod sync;
pub mod webhooks;
