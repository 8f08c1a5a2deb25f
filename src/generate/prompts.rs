//! Prompt sources: a JSONL file (`id`/`task_id` + `prompt`), a folder of source files, or a
//! scenario suite (folders with `scenario.toml` naming `id` and a `prompt` file).

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub id: String,
    pub text: String,
}

pub fn load(path: &Path) -> Result<Vec<Prompt>> {
    let mut prompts = if path.is_dir() {
        from_dir(path)?
    } else {
        from_jsonl(path)?
    };
    if prompts.is_empty() {
        return Err(Error::file(path, "holds no prompts", "pass a JSONL file with id and prompt fields, a folder of .c/.cpp files, or a scenario suite"));
    }
    prompts.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(w) = prompts.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(Error::file(
            path,
            format!("prompt id {} appears twice", w[0].id),
            "give every prompt a unique id",
        ));
    }
    Ok(prompts)
}

fn from_jsonl(path: &Path) -> Result<Vec<Prompt>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let bad = |msg: &str| {
            Error::file(
                path,
                format!("line {}: {msg}", i + 1),
                "each line needs a string \"prompt\" and an \"id\" or \"task_id\"",
            )
        };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|_| bad("not valid JSON"))?;
        let id = v
            .get("id")
            .or_else(|| v.get("task_id"))
            .and_then(|x| x.as_str())
            .ok_or_else(|| bad("no id"))?;
        let prompt = v
            .get("prompt")
            .and_then(|x| x.as_str())
            .ok_or_else(|| bad("no prompt"))?;
        out.push(Prompt {
            id: id.to_string(),
            text: prompt.to_string(),
        });
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

fn from_dir(dir: &Path) -> Result<Vec<Prompt>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut out = Vec::new();
    for p in entries {
        let manifest = p.join("scenario.toml");
        if manifest.exists() {
            let text = read(&manifest)?;
            let v: toml::Value = toml::from_str(&text).map_err(|e| {
                Error::file(
                    &manifest,
                    format!("invalid TOML ({e})"),
                    "fix the scenario file",
                )
            })?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(String::from);
            let (Some(id), Some(prompt)) = (field("id"), field("prompt")) else {
                return Err(Error::file(
                    &manifest,
                    "needs string fields id and prompt",
                    "see scenarios/README.md",
                ));
            };
            if prompt.contains("..") || prompt.starts_with('/') {
                return Err(Error::file(
                    &manifest,
                    "prompt must name a file inside the scenario folder",
                    "use a plain file name",
                ));
            }
            out.push(Prompt {
                id,
                text: read(&p.join(prompt))?,
            });
        } else if p.is_file()
            && matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("c" | "cc" | "cpp" | "h" | "hpp" | "txt")
            )
        {
            let id = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(Prompt {
                id,
                text: read(&p)?,
            });
        }
    }
    Ok(out)
}
