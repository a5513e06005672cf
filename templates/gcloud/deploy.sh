#!/usr/bin/env bash
set -euo pipefail
echo {{ d.service.name }}
