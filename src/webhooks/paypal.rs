//! PayPal.
