mod commands;
mod config;
mod poll;
mod quickstart;
mod routes;
mod send;
mod sources;
mod state;
