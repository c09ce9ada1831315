//! End-to-end tests of the handler over a real socket (port 0, loopback only).

mod blob;
mod connections;
mod contract;
mod errors;
mod health;
mod helpers;
mod hot_swap;
mod overload;
mod predict;
mod process;
mod routes;
mod telemetry;
mod v2;
mod v2_edge;
mod v2_functions;
mod v2_tritonclient;
