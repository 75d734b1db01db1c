mod config;
mod send;
