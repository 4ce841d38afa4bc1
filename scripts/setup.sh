#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine lacks to build and test the project:
# libclang (bindgen for RocksDB), a C/C++ toolchain, OpenSSL and libcurl headers with pkg-config
# (librdkafka's TLS, SASL SCRAM and OIDC token requests link the system's libraries), a Java 17+
# JDK and Maven (for the Kafka broker, the Kafka Streams benchmark contestant and the schema
# registry), curl, unzip, python3 and Graphviz (the topology-picture tests draw their DOT).
# Installs nothing that is already there; needs root or sudo only when something is missing.
set -euo pipefail

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have_pkg libclang-dev || missing+=(libclang-dev)
command -v cc >/dev/null && command -v c++ >/dev/null && command -v make >/dev/null || missing+=(build-essential)
command -v perl >/dev/null || missing+=(perl)
have_pkg zlib1g-dev || missing+=(zlib1g-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
have_pkg libssl-dev || missing+=(libssl-dev)
have_pkg libcurl4-openssl-dev || missing+=(libcurl4-openssl-dev)
if ! command -v java >/dev/null || ! java -XX:-UsePerfData -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; then
  missing+=(openjdk-17-jre-headless)
fi
command -v javac >/dev/null && command -v jar >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || missing+=(maven)
# scripts/registry.sh (the schema registry the Avro tests use)
command -v curl >/dev/null || missing+=(curl)
command -v unzip >/dev/null || missing+=(unzip)
command -v python3 >/dev/null || missing+=(python3)
# Graphviz: the topology-picture tests check that the DOT output draws
command -v dot >/dev/null || missing+=(graphviz)

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (rustup) 1.89 or newer first" >&2
  exit 1
fi
