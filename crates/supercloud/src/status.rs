//! What `stratus train status JOB --output json` prints, and what `train up` keeps in
//! `<home>/jobs/<job>/status.json` as it goes:
//!
//! `{"job":…,"state":"training|healing|finished|failed","step":…,"loss":…,
//!   "members":[{"provider":…,"lease":…,"state":…}],"replacements":…,"paid":…}`

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Leasing and starting: no outer step yet.
    Starting,
    Training,
    /// A worker was lost and a replacement is being leased.
    Healing,
    Finished,
    Failed,
    /// Stopped by `train down` or Ctrl-C (the last checkpoint stays).
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// `coordinator`, `worker-1`, …
    pub role: String,
    pub provider: String,
    pub lease: String,
    /// `running`, `joined`, `lost`, `replaced`, `closed`.
    pub state: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobStatus {
    pub job: String,
    pub state: JobState,
    pub step: u64,
    pub loss: Option<f64>,
    pub members: Vec<Member>,
    pub replacements: u32,
    /// Paid to providers so far (from the ledger), e.g. `123456uact`.
    pub paid: String,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The process driving it (`train up` or `train supervise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    pub dseq: u64,
    pub checkpoint: String,
    /// Blocks and seconds from `train up` to the first outer step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks_to_first_step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_to_first_step: Option<f64>,
    /// Seconds from the last worker loss to its replacement training (joined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heal_s: Option<f64>,
    /// Final validation loss (nats/byte), once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub val_loss: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_json_has_the_documented_fields() {
        let s = JobStatus {
            job: "job-7".into(),
            state: JobState::Healing,
            step: 64,
            loss: Some(2.5),
            members: vec![Member {
                role: "worker-1".into(),
                provider: "a100".into(),
                lease: "o/7/2/1/p".into(),
                state: "running".into(),
            }],
            replacements: 1,
            paid: "100uact".into(),
            error: None,
            pid: None,
            dseq: 7,
            checkpoint: "s3://b/c".into(),
            blocks_to_first_step: None,
            seconds_to_first_step: None,
            last_heal_s: None,
            val_loss: None,
        };
        let v = serde_json::to_value(&s).unwrap();
        for key in ["job", "state", "step", "loss", "members", "replacements", "paid"] {
            assert!(v.get(key).is_some(), "{key} missing: {v}");
        }
        assert_eq!(v["state"], "healing");
        assert_eq!(v["members"][0]["provider"], "a100");
        assert!(v.get("error").is_none());
    }
}
