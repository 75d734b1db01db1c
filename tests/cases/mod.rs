mod commands;
mod config;
mod send;
