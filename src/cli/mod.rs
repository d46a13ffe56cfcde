//! The command line of the `huckleberry` binary. Settings are environment variables (and a
//! `.env` file), never flags: the commands here only choose what the binary does.
//!
//! - `huckleberry` or `huckleberry serve`: run the service (start-up is [`crate::startup`]).
//! - `huckleberry simulate stripe|clerk|resend`: POST correctly signed sample webhooks to a
//!   running app ([`simulate`]).
//! - `huckleberry healthcheck`: the container health check ([`healthcheck`]).
//! - `huckleberry check-config`: validate the environment as start-up does, start nothing
//!   ([`check_config`]).
//!
//! Usage errors print the usage on stderr and exit with code 2; `--help` and `--version`
//! work on every command (clap does both).

pub mod check_config;
pub mod healthcheck;
pub mod simulate;

use clap::{Args, Parser, Subcommand};

/// The samples' buyer email, the default of `--email`.
pub const SAMPLE_EMAIL: &str = "example@example.com";
/// The samples' buyer name, the default of `--name`.
pub const SAMPLE_NAME: &str = "Ada Buyer";
/// The Stripe sample's catalog reference (`metadata.product`), the default of `--product`.
pub const SAMPLE_PRODUCT: &str = "price_1QxOneOnOne2026";

/// Reads a `.env` file from the working directory (or a parent) into the environment;
/// variables already set win. A missing file is normal (production reads the real
/// environment). Returns what went wrong otherwise, without the offending line: it may hold
/// a secret.
pub fn load_dotenv() -> Option<String> {
    match dotenvy::dotenv() {
        Ok(_) => None,
        Err(error) if error.not_found() => None,
        Err(dotenvy::Error::LineParse(_, _)) => Some(
            ".env: a line could not be parsed, so it and every line after it were ignored \
             (quote values that contain spaces, `#` or `<`, e.g. EMAIL_FROM=\"Name <a@b.c>\")"
                .to_owned(),
        ),
        Err(error) => Some(format!(".env could not be read: {error}")),
    }
}

/// `huckleberry`: the Huckleberry Art Academy mentorship onboarding service.
#[derive(Debug, Parser)]
#[command(
    name = "huckleberry",
    version,
    propagate_version = true,
    about = "Huckleberry Art Academy mentorship onboarding service",
    long_about = "Huckleberry Art Academy mentorship onboarding service.\n\n\
        Without a command it runs the service (as `huckleberry serve`). Settings are \
        environment variables, read after a `.env` file in the working directory (variables \
        already set win); see the README's Configuration section or `.env.example`."
)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The binary's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service until SIGTERM or ctrl-c (the default command)
    #[command(
        long_about = "Run the service until SIGTERM or ctrl-c (the default command).\n\n\
            Reads the configuration from the environment; in production (INNGEST_DEV unset) it \
            refuses to start and lists every missing or invalid setting."
    )]
    Serve,
    /// Send correctly signed sample webhooks to a running app
    #[command(subcommand)]
    Simulate(Provider),
    /// Exit 0 when the service on this machine's PORT answers GET /healthz with 200
    #[command(
        long_about = "Exit 0 when the service on 127.0.0.1:$PORT (default 3000) answers \
            GET /healthz with 200, 1 otherwise. The container health check: the runtime image \
            has no curl."
    )]
    Healthcheck,
    /// Validate the environment as start-up does, print every problem, start nothing
    #[command(
        long_about = "Validate the environment exactly as start-up does, without binding a port \
            or contacting anyone. Prints every problem at once and exits 1, or prints a short \
            summary (no secrets) and exits 0."
    )]
    CheckConfig,
}

/// `huckleberry simulate <provider>`.
#[derive(Debug, Subcommand)]
pub enum Provider {
    /// A paid Stripe Checkout session (checkout.session.completed), signed with the first of
    /// STRIPE_WEBHOOK_SECRETS
    #[command(
        long_about = "A paid Stripe Checkout session (checkout.session.completed), signed with \
            the first of STRIPE_WEBHOOK_SECRETS. Each delivery has a fresh Stripe event id and, \
            unless --purchase-id is given, a fresh purchase id, so each one is a new purchase. \
            The app accepts it when MENTORSHIP_CATALOG lists the product and STRIPE_LIVEMODE \
            is unset or false (the sample is a test-mode event)."
    )]
    Stripe(StripeArgs),
    /// A Clerk user.created event, signed with the first of CLERK_WEBHOOK_SECRET
    Clerk(ClerkArgs),
    /// A Resend email.bounced event, signed with the first of RESEND_WEBHOOK_SECRET
    Resend(ResendArgs),
}

/// Where and how many: shared by every provider.
#[derive(Debug, Args)]
pub struct Delivery {
    /// How many deliveries to send; each is a distinct event (and purchase or user)
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub count: u32,
    /// The app's origin; `http://localhost:$PORT` when omitted.
    #[arg(
        long,
        value_name = "URL",
        help = "The app's origin [default: http://localhost:$PORT, PORT defaulting to 3000]"
    )]
    pub url: Option<String>,
}

/// `huckleberry simulate stripe`.
#[derive(Debug, Args)]
pub struct StripeArgs {
    /// The buyer's email (customer_details.email)
    #[arg(long, value_name = "EMAIL", default_value = SAMPLE_EMAIL)]
    pub email: String,
    /// The buyer's name (customer_details.name)
    #[arg(long, value_name = "NAME", default_value = SAMPLE_NAME)]
    pub name: String,
    /// The catalog reference bought (metadata.product); MENTORSHIP_CATALOG must list it
    #[arg(long, value_name = "REFERENCE", default_value = SAMPLE_PRODUCT)]
    pub product: String,
    /// The Checkout session id, i.e. the purchase id; a fresh `cs_test_sim_<millis>_<n>`
    /// when omitted.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "count",
        help = "The Checkout session id, i.e. the purchase id [default: a fresh cs_test_sim_<millis>_<n>]"
    )]
    pub purchase_id: Option<String>,
    #[command(flatten)]
    pub delivery: Delivery,
}

/// `huckleberry simulate clerk`.
#[derive(Debug, Args)]
pub struct ClerkArgs {
    /// The new user's primary email
    #[arg(long, value_name = "EMAIL", default_value = SAMPLE_EMAIL)]
    pub email: String,
    /// The new user's name (first name, then last name after the first space)
    #[arg(long, value_name = "NAME", default_value = SAMPLE_NAME)]
    pub name: String,
    /// The Clerk user id; a fresh `user_sim_<millis>_<n>` when omitted.
    #[arg(
        long,
        value_name = "ID",
        conflicts_with = "count",
        help = "The Clerk user id [default: a fresh user_sim_<millis>_<n>]"
    )]
    pub user_id: Option<String>,
    #[command(flatten)]
    pub delivery: Delivery,
}

/// `huckleberry simulate resend`.
#[derive(Debug, Args)]
pub struct ResendArgs {
    /// The recipient whose email bounced
    #[arg(long, value_name = "EMAIL", default_value = SAMPLE_EMAIL)]
    pub email: String,
    #[command(flatten)]
    pub delivery: Delivery,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_command_means_serve() {
        let cli = Cli::try_parse_from(["huckleberry"]).expect("parses");
        assert!(cli.command.is_none());
    }

    #[test]
    fn a_purchase_id_cannot_be_repeated_over_several_deliveries() {
        let error = Cli::try_parse_from([
            "huckleberry",
            "simulate",
            "stripe",
            "--purchase-id",
            "cs_1",
            "--count",
            "2",
        ])
        .expect_err("conflict");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
