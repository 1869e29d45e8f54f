//! Making sure a service's image exists: pulled from its registry with a progress bar, or
//! built from its `build:` context sent as a tar stream. Also devdb's own db-copy job image,
//! built from a Dockerfile embedded in the binary, so a repository needs no `db_copy` service.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::{is_not_found, DockerError, Engine};
use crate::config::Service;

/// What `ensure_image` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageAction {
    Present,
    Pulled,
    Built,
}

impl Engine {
    /// Returns the image's id, pulling or building it when it is missing (or `rebuild` is set).
    pub async fn ensure_image(
        &self,
        service: &Service,
        rebuild: bool,
    ) -> Result<(String, ImageAction), DockerError> {
        let Some(image) = service.image.as_deref() else {
            return Err(DockerError::Pull {
                image: String::new(),
                service: service.name.clone(),
                reason: "the service has neither `image:` nor `build:`".to_string(),
            });
        };
        if !rebuild || service.build.is_none() {
            if let Some(id) = self.image_id(image).await? {
                return Ok((id, ImageAction::Present));
            }
        }
        let action = if service.build.is_some() {
            self.build(service, image).await?;
            ImageAction::Built
        } else {
            self.pull(image, &service.name)
                .await
                .map_err(|e| self.not_on_remote_engine(e))?;
            ImageAction::Pulled
        };
        let id = self
            .image_id(image)
            .await?
            .ok_or_else(|| DockerError::Pull {
                image: image.to_string(),
                service: service.name.clone(),
                reason: "the engine reported success but the image is not there".to_string(),
            })?;
        Ok((id, action))
    }

    /// A failed pull on a remote engine: the image may well exist, but only on the client,
    /// which the engine cannot see; say how to bring it there (once, no retries).
    fn not_on_remote_engine(&self, error: DockerError) -> DockerError {
        match error {
            DockerError::Pull {
                image,
                service,
                reason,
            } if self.endpoint.is_remote() => DockerError::NotOnEngine {
                image,
                service,
                host: self.endpoint.host.clone(),
                reason,
            },
            other => other,
        }
    }

    pub async fn image_id(&self, image: &str) -> Result<Option<String>, DockerError> {
        match self.docker.inspect_image(image).await {
            Ok(inspect) => Ok(inspect.id),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(DockerError::api(format!("inspecting image {image}"))(e)),
        }
    }

    /// Pulls `image` for `service` (named in messages).
    async fn pull(&self, image: &str, service: &str) -> Result<(), DockerError> {
        let (name, tag) = split_reference(image);
        let options = CreateImageOptionsBuilder::default()
            .from_image(name)
            .tag(tag)
            .build();
        self.shell
            .note(format!("Pulling image {image} for service {service}"));
        let bar = self.shell.bytes_bar(format!("pull {image}"));
        let mut layers: HashMap<String, (u64, u64)> = HashMap::new();
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| DockerError::Pull {
                image: image.to_string(),
                service: service.to_string(),
                reason: pull_reason(&e),
            })?;
            if let Some(detail) = info.error_detail {
                bar.abandon();
                return Err(DockerError::Pull {
                    image: image.to_string(),
                    service: service.to_string(),
                    reason: detail
                        .message
                        .unwrap_or_else(|| "unknown error".to_string()),
                });
            }
            if let (Some(id), Some(detail)) = (info.id, info.progress_detail) {
                if info.status.as_deref() == Some("Downloading") {
                    let total = detail.total.unwrap_or(0).max(0) as u64;
                    let current = detail.current.unwrap_or(0).max(0) as u64;
                    layers.insert(id, (current, total));
                    bar.set_length(layers.values().map(|l| l.1).sum());
                    bar.set_position(layers.values().map(|l| l.0).sum());
                }
            }
        }
        bar.finish_and_clear();
        let downloaded: u64 = layers.values().map(|l| l.1).sum();
        self.shell.note(format!(
            "Pulled image {image} ({} layers downloaded, {:.1} MB)",
            layers.len(),
            downloaded as f64 / 1e6
        ));
        Ok(())
    }

    async fn build(&self, service: &Service, image: &str) -> Result<(), DockerError> {
        let Some(build) = &service.build else {
            return Ok(());
        };
        let context_display = build.context.display().to_string();
        let fail = |reason: String| DockerError::Build {
            image: image.to_string(),
            service: service.name.clone(),
            context: context_display.clone(),
            reason,
        };
        let context = build.context.clone();
        let archive = tokio::task::spawn_blocking(move || tar_context(&context))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("cannot read the build context: {e}")))?;
        let args: HashMap<String, String> = build.args.clone().into_iter().collect();
        let labels = HashMap::from([(
            super::names::SERVICE_LABEL.to_string(),
            service.name.clone(),
        )]);
        self.shell.note(format!(
            "Building image {image} for service {} from {context_display}",
            service.name
        ));
        self.build_archive(image, &build.dockerfile, archive, &args, &labels)
            .await
            .map_err(fail)
    }

    /// Builds `image` from a tar context; the error is the engine's reason with the last
    /// lines of the build output.
    async fn build_archive(
        &self,
        image: &str,
        dockerfile: &str,
        archive: Vec<u8>,
        args: &HashMap<String, String>,
        labels: &HashMap<String, String>,
    ) -> Result<(), String> {
        let options = BuildImageOptionsBuilder::default()
            .dockerfile(dockerfile)
            .t(image)
            .rm(true)
            .forcerm(true)
            .buildargs(args)
            .labels(labels)
            .build();
        let bar = self.shell.spinner(format!("build {image}"));
        let mut output_tail: Vec<String> = Vec::new();
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(archive.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| e.to_string())?;
            if let Some(detail) = info.error_detail {
                bar.abandon();
                let message = detail
                    .message
                    .unwrap_or_else(|| "unknown error".to_string());
                return Err(format!(
                    "{message}\n  build output (last lines):\n{}",
                    output_tail.join("\n")
                ));
            }
            if let Some(line) = info.stream {
                let line = line.trim_end();
                if !line.is_empty() {
                    if line.starts_with("Step ") {
                        bar.set_message(format!("build {image}: {line}"));
                    }
                    output_tail.push(format!("    {line}"));
                    if output_tail.len() > 15 {
                        output_tail.remove(0);
                    }
                }
            }
        }
        bar.finish_and_clear();
        self.shell.note(format!("Built image {image}"));
        Ok(())
    }

    /// devdb's own db-copy job image on `base` (an image with PostgreSQL `major`'s client
    /// tools). Its tag is a hash of what it is made of, so it is built once per base.
    pub async fn builtin_job_image(&self, base: &str, major: u32) -> Result<String, DockerError> {
        let recipe = format!("{DB_COPY_DOCKERFILE}\0{DB_COPY_ENTRYPOINT}\0{base}");
        let tag = format!(
            "{BUILTIN_JOB_IMAGE}:{major}-{}",
            &crate::digest::sha256_hex(recipe.as_bytes())[..12]
        );
        if let Some(id) = self.image_id(&tag).await? {
            return Ok(id);
        }
        let no_image = |reason: String| DockerError::NoCopyImage {
            major,
            base: base.to_string(),
            reason,
        };
        if self.image_id(base).await?.is_none() {
            self.pull(base, "db-copy (built in)")
                .await
                .map_err(|e| match e {
                    DockerError::Pull { reason, .. } => no_image(format!(
                        "is not present locally and cannot be pulled: {reason}"
                    )),
                    other => other,
                })?;
        }
        let archive = builtin_context().map_err(|e| no_image(e.to_string()))?;
        let args = HashMap::from([("BASE_IMAGE".to_string(), base.to_string())]);
        self.shell.note(format!(
            "Building the db-copy job image {tag} on {base} (once)"
        ));
        self.build_archive(&tag, "Dockerfile", archive, &args, &HashMap::new())
            .await
            .map_err(|why| no_image(format!("could not be built on: {why}")))?;
        self.image_id(&tag)
            .await?
            .ok_or_else(|| no_image("built, but the engine does not list it".to_string()))
    }
}

/// The repository name of devdb's own db-copy job images.
pub const BUILTIN_JOB_IMAGE: &str = "devdb-db-copy";
const DB_COPY_DOCKERFILE: &str = include_str!("../../containers/db-copy/Dockerfile");
const DB_COPY_ENTRYPOINT: &str = include_str!("../../containers/db-copy/entrypoint.sh");

/// The db-copy build context, in memory: the embedded Dockerfile and entrypoint.
fn builtin_context() -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, content, mode) in [
        ("Dockerfile", DB_COPY_DOCKERFILE, 0o644),
        ("entrypoint.sh", DB_COPY_ENTRYPOINT, 0o755),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_path(path)?;
        header.set_size(content.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        builder.append(&header, content.as_bytes())?;
    }
    builder.into_inner()
}

/// `registry:5000/name:tag` → (`registry:5000/name`, `tag`); digests stay in the name.
pub fn split_reference(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => (
            &image[..last_slash + colon],
            &image[last_slash + colon + 1..],
        ),
        None => (image, "latest"),
    }
}

/// The engine's reason, without bollard's "Docker responded with status code" wrapper.
fn pull_reason(error: &bollard::errors::Error) -> String {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn tar_context(context: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", context)?;
    builder.into_inner()
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn image_references() {
        assert_eq!(split_reference("postgres:16"), ("postgres", "16"));
        assert_eq!(split_reference("postgres"), ("postgres", "latest"));
        assert_eq!(
            split_reference("127.0.0.1:5000/devdb/pg:15"),
            ("127.0.0.1:5000/devdb/pg", "15")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/devdb/pg"),
            ("127.0.0.1:5000/devdb/pg", "latest")
        );
        assert_eq!(split_reference("pg@sha256:abc"), ("pg@sha256:abc", ""));
    }
}
