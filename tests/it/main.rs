//! Rollcall's integration tests: one binary; each test runs against a real SQLite file and a
//! real PostgreSQL database (`ROLLCALL_TEST_PG_URL`, provided by `scripts/test`), through
//! real HTTP on a loopback port. The LDAP tests run against a real slapd of their own
//! (`slapd.rs`).

mod admin_list;
mod admin_list_store;
mod api_agents;
mod api_approval;
mod api_audit;
mod api_findings;
mod api_framework;
mod api_idempotency;
mod api_sources;
mod binary_log;
mod cli_agents;
mod concurrency;
mod concurrency_nodes;
mod filter_cost;
mod harness;
mod imports;
mod imports_api;
mod ldap_source;
mod mail;
mod names;
mod names_migrate;
mod roles;
mod roles_api;
mod roles_cli;
mod roles_scim;
mod scim_discovery;
mod scim_errors;
mod scim_groups;
mod scim_hardening;
mod scim_limits;
mod scim_quirks;
mod scim_totals;
mod scim_users;
mod signin;
mod signin_mfa;
mod signin_password;
mod slapd;
mod store;
mod sync_crash;
mod sync_incremental;
mod sync_ldap;
mod sync_watch;
mod webhooks;
