terraform {
  required_version = "{{ terraform }}"

  required_providers {
    google = {
      source = "hashicorp/google"
      version = "{{ google }}"
    }
  }
}

provider "google" {
  project = var.project
  region = var.region
}
