//! Fault injection for crash-safety tests: `APPLINK_FAILPOINT=after-create` makes the process
//! abort right after the first remote create, before any status is written, the way a killed
//! operator would. Unset (always, in production) it does nothing.

pub fn hit(name: &str) {
    if std::env::var("APPLINK_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
