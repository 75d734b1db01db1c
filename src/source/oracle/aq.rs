//! Oracle AQ messages as queue messages: decoding RAW payloads (UTF-8 JSON or text), object
//! payloads (attributes become labels) and server-generated alerts (`SYS.ALERT_TYPE`, which fire
//! and resolve state alerts).
//!
//! Everything here is pure and tested on fixtures built from the documented layouts; the
//! driver in `driver.rs` only dequeues, reads each attribute as text with its type, and looks
//! up the reason text of server alerts with [`REASON_SQL`]. Database text is untrusted: nothing
//! here panics on it, and what cannot be read is said in a warning that the poll engine logs
//! with the check's name and the message id.

use oracle::sql_type::OracleType;
use serde_json::{Map, Value as Json};

use super::value::value_of;
use crate::source::{Effect, QueueMessage, Value};

/// `DBMS_SERVER_ALERT.LEVEL_CRITICAL`: a critical threshold was crossed.
pub const LEVEL_CRITICAL: i64 = 1;
/// `DBMS_SERVER_ALERT.LEVEL_CLEAR`: a stateful alert cleared (the views show it as
/// `MESSAGE_TYPE = 'Notification'`, `decode(message_level, 32, …)` in catalrt.sql).
pub const LEVEL_CLEAR: i64 = 32;

/// Bytes of a non-UTF-8 RAW payload shown (as hex) in its summary.
const HEX_SHOWN: usize = 64;

/// The reason text of a server alert, by the `SEQUENCE_ID` of its message: outstanding alerts
/// first, then the history: its `cleared` row before any other, so that a stateful alert raised
/// and cleared before dbalert dequeued the raise stays stateful (it fires, and its clear
/// resolves it) instead of reading an `N/A` row and becoming a one-off event; then, for a
/// message whose sequence id is in neither (a later raise of the same alert), the outstanding
/// alert of the same reason and object. The runtime user reads both views (01_user.sql,
/// 03_alert_que.sql), so no EXECUTE on DBMS_SERVER_ALERT (EXPAND_MESSAGE) is needed.
pub const REASON_SQL: &str = "\
select reason, suggested_action, resolution
  from (select reason, suggested_action, 'outstanding' as resolution, 1 as pref
          from dba_outstanding_alerts
         where sequence_id = :sequence_id
        union all
        select reason, suggested_action, resolution,
               case when lower(resolution) = 'cleared' then 2 else 3 end as pref
          from dba_alert_history
         where sequence_id = :sequence_id
        union all
        select reason, suggested_action, 'outstanding' as resolution, 4 as pref
          from dba_outstanding_alerts
         where reason_id = :reason_id
           and nvl(owner, 'SYS') = :owner
           and nvl(object_type, '-') = nvl(:object_type, '-')
           and nvl(object_name, '-') = nvl(:object_name, '-')
           and nvl(subobject_name, '-') = nvl(:subobject_name, '-'))
 order by pref
 fetch first 1 rows only";

/// Object payloads (application types and `SYS.ALERT_TYPE`) are dequeued through this PL/SQL
/// block, never through the crate's `Queue::<Object>`: rust-oracle 0.6.3's `Object` payload
/// wraps the handle `dpiMsgProps_getPayload` returns without taking a reference and releases
/// it when dropped, and the message properties release the same object again when they are
/// freed (a double release, heap corruption in `dbalert run`). Here `DBMS_AQ.DEQUEUE` runs on
/// the server, in the session's transaction (visibility ON_COMMIT, mode REMOVE), one message
/// per execution, and the attributes come back as OUT binds typed like the attributes, so
/// that the driver reads them as it reads columns. An empty queue (ORA-25228 after the wait)
/// sets `:found` to 0; a message whose payload is NULL has every attribute NULL.
///
/// `type_schema.type_name` is the payload type as the dictionary names it; `attributes` its
/// attributes in order. The block's OUT binds are `:found`, `:enq_time` (DATE),
/// `:attempts`, and `:a1`… for the attributes listed in [`ObjectDequeue::attributes`]
/// (those that make a label (`makes_a_label`)); its IN binds `:queue_name`, `:consumer_name`,
/// `:wait_seconds` and `:first_call` (1: `FIRST_MESSAGE`, a fresh look at the queue; else
/// `NEXT_MESSAGE`).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDequeue {
    pub plsql: String,
    /// `(index of the attribute in the type, OUT bind name, bind type)`.
    pub attributes: Vec<(usize, String, OracleType)>,
}

impl ObjectDequeue {
    pub fn new(type_schema: &str, type_name: &str, attributes: &[(String, OracleType)]) -> Self {
        let mut binds = Vec::new();
        let mut assignments = String::new();
        for (at, (name, oracle_type)) in attributes.iter().enumerate() {
            if !makes_a_label(oracle_type) {
                continue;
            }
            let bind = format!("a{}", binds.len() + 1);
            assignments.push_str(&format!(
                "    :{bind} := l_payload.{};\n",
                quote_identifier(name)
            ));
            binds.push((at, bind, out_bind_type(oracle_type)));
        }
        let plsql = format!(
            "declare
  no_messages exception;
  pragma exception_init(no_messages, -25228);
  l_options dbms_aq.dequeue_options_t;
  l_props   dbms_aq.message_properties_t;
  l_payload {}.{};
  l_msgid   raw(16);
begin
  l_options.wait := :wait_seconds;
  l_options.visibility := dbms_aq.on_commit;
  l_options.dequeue_mode := dbms_aq.remove;
  if :first_call = 1 then
    l_options.navigation := dbms_aq.first_message;
  else
    l_options.navigation := dbms_aq.next_message;
  end if;
  l_options.consumer_name := :consumer_name;
  dbms_aq.dequeue(
    queue_name         => :queue_name,
    dequeue_options    => l_options,
    message_properties => l_props,
    payload            => l_payload,
    msgid              => l_msgid);
  :found := 1;
  :enq_time := l_props.enqueue_time;
  :attempts := l_props.attempts;
  if l_payload is not null then
{assignments}  end if;
exception
  when no_messages then
    :found := 0;
end;",
            quote_identifier(type_schema),
            quote_identifier(type_name),
        );
        Self {
            plsql,
            attributes: binds,
        }
    }
}

/// A dictionary name as a quoted identifier (dictionary names hold no `"`).
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', ""))
}

/// The type of the OUT bind an attribute is read through: character attributes as the
/// largest PL/SQL VARCHAR2 (an attribute declared in characters may hold more bytes than its
/// length), RAW as the largest RAW, the others as declared; the driver reads every one as
/// text, as it reads a column.
pub fn out_bind_type(oracle_type: &OracleType) -> OracleType {
    match oracle_type {
        OracleType::Varchar2(_)
        | OracleType::NVarchar2(_)
        | OracleType::Char(_)
        | OracleType::NChar(_)
        | OracleType::Rowid => OracleType::Varchar2(32767),
        OracleType::Raw(_) => OracleType::Raw(32767),
        OracleType::Long => OracleType::CLOB,
        other => other.clone(),
    }
}

/// What to do about the AQ errors a queue check's config causes, by ORA- number.
pub fn hint(ora: i32) -> Option<&'static str> {
    Some(match ora {
        24010 => {
            "the queue does not exist or the user cannot see it: check `queue.name` (OWNER.QUEUE) and that sql/oracle/02_app_queue.sql (or 03_alert_que.sql) ran"
        }
        25231 => {
            "the queue has several consumers: set `queue.consumer` to the subscriber (DBALERT for the kit's queues)"
        }
        25215 => {
            "the queue's payload type is not the check's `queue.payload`: `raw` for a RAW queue, `{object: OWNER.TYPE}` for an object queue"
        }
        // The PL/SQL block object payloads are dequeued with does not compile.
        6550 => {
            "object payloads are dequeued with PL/SQL (DBMS_AQ.DEQUEUE): the user needs EXECUTE on SYS.DBMS_AQ (sql/oracle/03_alert_que.sql grants it for SYS.ALERT_QUE) and on the payload type when another schema owns it"
        }
        _ => return None,
    })
}

/// What the driver read of a message besides its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// 1-based place in the batch.
    pub position: usize,
    /// `MsgProps::enq_time`, as the driver writes it.
    pub enq_time: String,
    /// AQ's count of earlier attempts (rollbacks) of this message.
    pub attempts: i32,
}

impl Envelope {
    /// The id logs and warnings name the message by. AQ's message id is not read: the crate's
    /// `message_id()` frees memory it does not own.
    pub fn id(&self) -> String {
        let mut id = format!("enqueued {} #{}", self.enq_time, self.position);
        if self.attempts > 0 {
            id.push_str(&format!(", attempt {}", self.attempts + 1));
        }
        id
    }
}

/// A RAW payload: UTF-8 JSON (an object's keys become labels), else UTF-8 text (the summary).
/// Bytes that are not UTF-8, an empty payload, or text that starts like JSON but does not parse
/// are still sent, as text, with a warning.
pub fn raw_message(envelope: &Envelope, bytes: &[u8]) -> QueueMessage {
    let (payload, warnings) = decode_raw(bytes);
    QueueMessage::event(envelope.id(), payload, warnings)
}

fn decode_raw(bytes: &[u8]) -> (Value, Vec<String>) {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.trim(),
        Err(error) => {
            let shown: String = bytes
                .iter()
                .take(HEX_SHOWN)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if bytes.len() > HEX_SHOWN { "…" } else { "" };
            return (
                Value::text(format!(
                    "(a {}-byte payload that is not UTF-8 text) {shown}{more}",
                    bytes.len()
                )),
                vec![format!(
                    "payload is not UTF-8 (invalid byte at offset {}); sent as hex",
                    error.valid_up_to()
                )],
            );
        }
    };
    if text.is_empty() {
        return (
            Value::text("(empty payload)"),
            vec!["payload is empty".to_owned()],
        );
    }
    match serde_json::from_str::<Json>(text) {
        Ok(json) => (Value::Json(json), Vec::new()),
        Err(error) if text.starts_with(['{', '[']) => (
            Value::text(text),
            vec![format!(
                "payload looks like JSON but does not parse ({error}); sent as text"
            )],
        ),
        Err(_) => (Value::text(text), Vec::new()),
    }
}

/// One attribute of an object payload, as the driver read it.
#[derive(Debug, Clone)]
pub struct Attribute {
    /// As the type declares it (upper case).
    pub name: String,
    pub oracle_type: OracleType,
    /// The value's text form (`None`: NULL), or why the driver could not read it.
    pub text: Result<Option<String>, String>,
}

/// An object payload: each attribute becomes a label (lower-case name); a `SUMMARY` or
/// `DESCRIPTION` attribute is also the message text.
pub fn object_message(envelope: &Envelope, attributes: &[Attribute]) -> QueueMessage {
    let (labels, warnings) = object_labels(attributes);
    QueueMessage::event(envelope.id(), Value::Json(Json::Object(labels)), warnings)
}

/// Attributes as labels. NULL attributes are left out; so are attributes of a type that makes
/// no label (nested objects, collections, LOB locators, XML, native JSON), with a warning.
pub fn object_labels(attributes: &[Attribute]) -> (Map<String, Json>, Vec<String>) {
    let mut labels = Map::new();
    let mut warnings = Vec::new();
    for attribute in attributes {
        let name = &attribute.name;
        if !makes_a_label(&attribute.oracle_type) {
            warnings.push(format!(
                "attribute {name} has type {}, which dbalert does not read; left out",
                attribute.oracle_type
            ));
            continue;
        }
        let text = match &attribute.text {
            Ok(text) => text.clone(),
            Err(error) => {
                warnings.push(format!(
                    "attribute {name} cannot be read ({error}); left out"
                ));
                continue;
            }
        };
        match value_of(&attribute.oracle_type, text) {
            Ok(Value::Null) => {}
            Ok(value) => {
                labels.insert(name.to_lowercase(), Json::String(value.to_label()));
            }
            Err(error) => warnings.push(format!("attribute {name}: {error}; left out")),
        }
    }
    (labels, warnings)
}

pub(super) fn makes_a_label(oracle_type: &OracleType) -> bool {
    matches!(
        oracle_type,
        OracleType::Varchar2(_)
            | OracleType::NVarchar2(_)
            | OracleType::Char(_)
            | OracleType::NChar(_)
            | OracleType::Rowid
            | OracleType::Raw(_)
            | OracleType::BinaryFloat
            | OracleType::BinaryDouble
            | OracleType::Number(_, _)
            | OracleType::Float(_)
            | OracleType::Date
            | OracleType::Timestamp(_)
            | OracleType::TimestampTZ(_)
            | OracleType::TimestampLTZ(_)
            | OracleType::IntervalDS(_, _)
            | OracleType::IntervalYM(_)
            | OracleType::CLOB
            | OracleType::NCLOB
            | OracleType::Long
            | OracleType::Boolean
            | OracleType::Int64
            | OracleType::UInt64
    )
}

/// A `SYS.ALERT_TYPE` message, mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerAlert {
    /// The labels: `reason_id`, `owner` (the object owner, `SYS` when none, as in the
    /// `oracle_server_alert` check), `object_type`, `object_name`, `subobject_name`,
    /// `instance`, `pdb` (12.1 and later), `instance_number`, `message_level`,
    /// `message_group`, `metric_value`, `advisor_name`, `host` and `severity` (level 1
    /// critical, else warning).
    pub labels: Map<String, Json>,
    /// What identifies the alert, so that its clear message finds it: reason, object,
    /// instance and, when the message names one, the PDB (`PDB_NAME`, the 42nd attribute of
    /// `SYS.ALERT_TYPE` since 12.1): a queue read in CDB$ROOT gets the alerts of every PDB,
    /// and the `USERS` tablespaces of two PDBs are two alerts. Messages without a PDB (11g,
    /// a non-CDB) keep the identity they always had.
    pub identity: Vec<(String, String)>,
    /// `MESSAGE_LEVEL`; `None` when missing or not a number.
    pub level: Option<i64>,
    /// `SEQUENCE_ID`, the key of the reason text in the views.
    pub sequence_id: Option<String>,
    pub warnings: Vec<String>,
}

/// `SYS.ALERT_TYPE` attributes as labels and identity (catalrt.sql's attribute list, 41
/// attributes before 12.1, 42 with `PDB_NAME` since).
pub fn server_alert(attributes: &[Attribute]) -> ServerAlert {
    let (read, mut warnings) = object_labels(attributes);
    let get = |name: &str| read.get(name).and_then(Json::as_str).map(str::to_owned);
    let level = get("message_level").and_then(|l| l.parse::<i64>().ok());
    if level.is_none() {
        warnings.push("MESSAGE_LEVEL is missing or not a number; taken as a warning".to_owned());
    }
    let mut labels = Map::new();
    let owner = get("object_owner").unwrap_or_else(|| "SYS".to_owned());
    let mut identity = Vec::new();
    for (label, attribute) in [
        ("reason_id", "reason_id"),
        ("owner", "object_owner"),
        ("object_type", "object_type"),
        ("object_name", "object_name"),
        ("subobject_name", "subobject_name"),
        ("instance", "instance_name"),
    ] {
        let value = if label == "owner" {
            Some(owner.clone())
        } else {
            get(attribute)
        };
        identity.push((label.to_owned(), value.clone().unwrap_or_default()));
        if let Some(value) = value {
            labels.insert(label.to_owned(), Json::String(value));
        }
    }
    if let Some(pdb) = get("pdb_name").filter(|pdb| !pdb.trim().is_empty()) {
        identity.push(("pdb".to_owned(), pdb.clone()));
        labels.insert("pdb".to_owned(), Json::String(pdb));
    }
    for (label, attribute) in [
        ("instance_number", "instance_number"),
        ("message_level", "message_level"),
        ("message_group", "message_group"),
        ("metric_value", "metric_value"),
        ("advisor_name", "advisor_name"),
        ("host", "host_id"),
    ] {
        if let Some(value) = get(attribute) {
            labels.insert(label.to_owned(), Json::String(value));
        }
    }
    let severity = if level == Some(LEVEL_CRITICAL) {
        "critical"
    } else {
        "warning"
    };
    labels.insert("severity".to_owned(), Json::String(severity.to_owned()));
    ServerAlert {
        labels,
        identity,
        level,
        sequence_id: get("sequence_id"),
        warnings,
    }
}

/// A row of [`REASON_SQL`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reason {
    pub reason: Option<String>,
    pub suggested_action: Option<String>,
    /// `outstanding`, or the history's `RESOLUTION`: `cleared`, or `N/A` for a stateless alert.
    pub resolution: Option<String>,
}

impl ServerAlert {
    /// Whether the message clears an alert (then its reason text is not needed).
    pub fn is_clear(&self) -> bool {
        self.level == Some(LEVEL_CLEAR)
    }

    /// The message: a clear resolves the alert of the same identity; a stateless alert (only
    /// in the history, resolution `N/A`: it never clears) is an event, one notification; any
    /// other fires the alert. The reason text is the summary, the suggested action the
    /// description.
    pub fn into_message(self, envelope: &Envelope, reason: Option<&Reason>) -> QueueMessage {
        let mut labels = self.labels;
        let mut identity = self.identity;
        let stateless = reason
            .and_then(|r| r.resolution.as_deref())
            .is_some_and(|r| r.eq_ignore_ascii_case("N/A"));
        let effect = if self.level == Some(LEVEL_CLEAR) {
            Effect::Resolve
        } else if stateless {
            // Each raise of a stateless alert is its own event.
            identity.push((
                "sequence_id".to_owned(),
                self.sequence_id.clone().unwrap_or_else(|| envelope.id()),
            ));
            Effect::Event
        } else {
            Effect::Fire
        };
        let text = |value: Option<&String>| value.filter(|v| !v.trim().is_empty()).cloned();
        let summary = text(reason.and_then(|r| r.reason.as_ref())).unwrap_or_else(|| {
            let field = |key: &str| labels.get(key).and_then(Json::as_str).unwrap_or("");
            format!(
                "Server alert (reason {}) on {} {}.{}",
                field("reason_id"),
                field("object_type"),
                field("owner"),
                field("object_name")
            )
        });
        labels.insert("summary".to_owned(), Json::String(summary));
        if let Some(action) = text(reason.and_then(|r| r.suggested_action.as_ref())) {
            labels.insert("description".to_owned(), Json::String(action));
        }
        QueueMessage {
            id: envelope.id(),
            payload: Value::Json(Json::Object(labels)),
            identity,
            effect,
            warnings: self.warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            position: 3,
            enq_time: "2026-11-23 08:14:02.123456".into(),
            attempts: 0,
        }
    }

    fn varchar(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: name.into(),
            oracle_type: OracleType::Varchar2(513),
            text: Ok(value.map(Into::into)),
        }
    }

    fn number(name: &str, value: Option<&str>) -> Attribute {
        Attribute {
            name: name.into(),
            oracle_type: OracleType::Number(0, -127),
            text: Ok(value.map(Into::into)),
        }
    }

    fn attribute_types(attributes: &[Attribute]) -> Vec<(String, OracleType)> {
        attributes
            .iter()
            .map(|a| (a.name.clone(), a.oracle_type.clone()))
            .collect()
    }

    /// The PL/SQL block object payloads are dequeued with: one message, in the session's
    /// transaction, every label-making attribute as an OUT bind typed for reading as text.
    #[test]
    fn object_payloads_are_dequeued_by_a_plsql_block() {
        let mut types = attribute_types(&alert_type(Some("5"), "1"));
        types.push(("ATTACHMENT".into(), OracleType::BLOB));
        let dequeue = ObjectDequeue::new("SYS", "ALERT_TYPE", &types);
        let plsql = &dequeue.plsql;
        for fragment in [
            "l_payload \"SYS\".\"ALERT_TYPE\";",
            "pragma exception_init(no_messages, -25228);",
            "l_options.visibility := dbms_aq.on_commit;",
            "l_options.dequeue_mode := dbms_aq.remove;",
            "l_options.navigation := dbms_aq.first_message;",
            "l_options.navigation := dbms_aq.next_message;",
            "l_options.wait := :wait_seconds;",
            "l_options.consumer_name := :consumer_name;",
            "queue_name         => :queue_name,",
            ":enq_time := l_props.enqueue_time;",
            ":attempts := l_props.attempts;",
            "if l_payload is not null then",
            ":a42 := l_payload.\"PDB_NAME\";",
            "when no_messages then\n    :found := 0;",
        ] {
            assert!(plsql.contains(fragment), "{fragment}\n{plsql}");
        }
        assert!(plsql.trim_end().ends_with("end;"));
        assert!(!plsql.contains("ATTACHMENT"), "a BLOB makes no label");
        // Every label-making attribute once, in order, with its bind type.
        assert_eq!(dequeue.attributes.len(), 42);
        assert_eq!(
            dequeue.attributes[0],
            (0, "a1".to_owned(), OracleType::TimestampTZ(6))
        );
        assert_eq!(
            dequeue.attributes[1],
            (1, "a2".to_owned(), OracleType::Varchar2(32767))
        );
        for (at, bind, _) in &dequeue.attributes {
            let name = &types[*at].0;
            assert_eq!(
                plsql
                    .matches(&format!(":{bind} := l_payload.\"{name}\";"))
                    .count(),
                1,
                "{bind}"
            );
        }
        // Each IN and OUT bind appears once (a repeated name binds one variable twice).
        for bind in [
            ":wait_seconds",
            ":first_call",
            ":consumer_name",
            ":queue_name",
            ":enq_time",
            ":attempts",
        ] {
            assert_eq!(plsql.matches(bind).count(), 1, "{bind}");
        }
        assert_eq!(plsql.matches(":found").count(), 2, "set on both paths");
        // Identifiers are quoted, so a type attribute named like a keyword still works.
        let odd = ObjectDequeue::new(
            "APP",
            "ALERT_T",
            &[("LEVEL".into(), OracleType::Number(0, -127))],
        );
        assert!(odd.plsql.contains(":a1 := l_payload.\"LEVEL\";"));
        assert!(odd.plsql.contains("l_payload \"APP\".\"ALERT_T\";"));
    }

    #[test]
    fn config_mistakes_in_aq_errors_say_what_to_change() {
        assert!(hint(24010).unwrap().contains("queue.name"));
        assert!(hint(25231).unwrap().contains("queue.consumer"));
        assert!(hint(25215).unwrap().contains("queue.payload"));
        assert!(hint(6550).unwrap().contains("EXECUTE on SYS.DBMS_AQ"));
        assert_eq!(hint(942), None);
    }

    #[test]
    fn message_ids_name_enqueue_time_place_and_attempt() {
        assert_eq!(envelope().id(), "enqueued 2026-11-23 08:14:02.123456 #3");
        let again = Envelope {
            attempts: 2,
            ..envelope()
        };
        assert_eq!(
            again.id(),
            "enqueued 2026-11-23 08:14:02.123456 #3, attempt 3"
        );
    }

    /// The message `dbalert_api.raise_alert` enqueues (sql/oracle/02_app_queue.sql): one flat
    /// JSON object, UTF-8, with the caller's labels, severity, summary, owner, pdb, instance.
    #[test]
    fn raise_alert_json_becomes_labels() {
        let payload = r#"{"team":"orders","job":"nightly_close","severity":"critical","summary":"ORDERS batch failed: ORA-01555 – snapshot too old","owner":"ORDERS_APP","pdb":"ORDERSPDB","instance":"PROD1"}"#;
        let message = raw_message(&envelope(), payload.as_bytes());
        assert!(message.warnings.is_empty(), "{:?}", message.warnings);
        assert_eq!(message.effect, Effect::Event);
        assert_eq!(message.id, "enqueued 2026-11-23 08:14:02.123456 #3");
        assert_eq!(message.identity, [("id".to_owned(), message.id.clone())]);
        let Value::Json(Json::Object(map)) = &message.payload else {
            panic!("{:?}", message.payload)
        };
        assert_eq!(map["owner"], "ORDERS_APP");
        assert_eq!(
            map["summary"],
            "ORDERS batch failed: ORA-01555 – snapshot too old"
        );
        assert_eq!(map.len(), 7);
    }

    #[test]
    fn raw_text_json_scalars_and_bad_payloads() {
        // (payload, expected payload, expected warning fragment)
        let cases: [(&[u8], Value, Option<&str>); 7] = [
            (b"disk full on /u02", Value::text("disk full on /u02"), None),
            (
                b"  \"quoted text\"\n",
                Value::Json(Json::String("quoted text".into())),
                None,
            ),
            (b"42", Value::Json(Json::from(42)), None),
            (
                b"{\"team\": \"orders\",",
                Value::text("{\"team\": \"orders\","),
                Some("looks like JSON but does not parse (EOF while parsing"),
            ),
            (
                b"",
                Value::text("(empty payload)"),
                Some("payload is empty"),
            ),
            (
                b"ok \xff\xfe",
                Value::text("(a 5-byte payload that is not UTF-8 text) 6f6b20fffe"),
                Some("not UTF-8 (invalid byte at offset 3); sent as hex"),
            ),
            (
                &[0xc3; 100],
                Value::text(format!(
                    "(a 100-byte payload that is not UTF-8 text) {}…",
                    "c3".repeat(64)
                )),
                Some("invalid byte at offset 0"),
            ),
        ];
        for (bytes, payload, warning) in cases {
            let message = raw_message(&envelope(), bytes);
            assert_eq!(message.payload, payload, "{bytes:?}");
            match warning {
                None => assert!(message.warnings.is_empty(), "{:?}", message.warnings),
                Some(fragment) => assert!(
                    message.warnings.len() == 1 && message.warnings[0].contains(fragment),
                    "{:?}",
                    message.warnings
                ),
            }
        }
    }

    #[test]
    fn deeply_nested_json_is_text_with_a_warning_not_a_crash() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let message = raw_message(&envelope(), deep.as_bytes());
        assert!(matches!(message.payload, Value::Text(_)));
        assert!(
            message.warnings[0].contains("recursion limit"),
            "{:?}",
            message.warnings
        );
    }

    /// An application object type, e.g.
    /// `CREATE TYPE app.alert_t AS OBJECT (team VARCHAR2(30), severity VARCHAR2(10),
    /// summary VARCHAR2(4000), raised TIMESTAMP WITH TIME ZONE, rows_lost NUMBER,
    /// trace CLOB, detail app.detail_t, attachment BLOB)`.
    #[test]
    fn object_attributes_become_labels_and_unreadable_ones_warn() {
        let attributes = [
            varchar("TEAM", Some("orders")),
            varchar("SEVERITY", Some("critical")),
            varchar("SUMMARY", Some("nightly close failed")),
            Attribute {
                name: "RAISED".into(),
                oracle_type: OracleType::TimestampTZ(6),
                text: Ok(Some("2026-11-23 08:14:02.000000 +01:00".into())),
            },
            number("ROWS_LOST", Some("12")),
            number("RETRIES", None),
            Attribute {
                name: "TRACE".into(),
                oracle_type: OracleType::CLOB,
                text: Err("ORA-22922: nonexistent LOB value".into()),
            },
            Attribute {
                name: "ATTACHMENT".into(),
                oracle_type: OracleType::BLOB,
                text: Ok(Some("00ff".into())),
            },
            Attribute {
                name: "RAISED_AT".into(),
                oracle_type: OracleType::Date,
                text: Ok(Some("yesterday".into())),
            },
        ];
        let message = object_message(&envelope(), &attributes);
        let Value::Json(Json::Object(map)) = &message.payload else {
            panic!()
        };
        let labels: Vec<(&str, &str)> = map
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            labels,
            [
                ("raised", "2026-11-23T07:14:02Z"),
                ("rows_lost", "12"),
                ("severity", "critical"),
                ("summary", "nightly close failed"),
                ("team", "orders"),
            ]
        );
        assert_eq!(
            message.warnings,
            [
                "attribute TRACE cannot be read (ORA-22922: nonexistent LOB value); left out",
                "attribute ATTACHMENT has type BLOB, which dbalert does not read; left out",
                "attribute RAISED_AT: cannot read `yesterday` as a date and time; left out",
            ]
        );
    }

    /// A tablespace alert as catalrt.sql's SYS.ALERT_TYPE carries it since 12.1 (every
    /// attribute, in order, PDB_NAME the 42nd; the reason arguments are what EXPAND_MESSAGE
    /// would fill in).
    fn alert_type(level: Option<&str>, sequence_id: &str) -> Vec<Attribute> {
        let mut attributes = alert_type_11g(level, sequence_id);
        attributes.push(varchar("PDB_NAME", Some("APP1")));
        attributes
    }

    /// The 41 attributes of SYS.ALERT_TYPE before 12.1 (no PDB_NAME).
    fn alert_type_11g(level: Option<&str>, sequence_id: &str) -> Vec<Attribute> {
        let tz = |name: &str, value: &str| Attribute {
            name: name.into(),
            oracle_type: OracleType::TimestampTZ(6),
            text: Ok(Some(value.into())),
        };
        vec![
            tz("TIMESTAMP_ORIGINATING", "2026-11-23 08:14:02.000000 +00:00"),
            varchar("ORGANIZATION_ID", Some("oracle.com")),
            varchar("COMPONENT_ID", Some("SMG")),
            number("MESSAGE_ID", Some("1")),
            varchar("HOSTING_CLIENT_ID", None),
            varchar("MESSAGE_TYPE", Some("Warning")),
            varchar("MESSAGE_GROUP", Some("Space")),
            number("MESSAGE_LEVEL", level),
            varchar("HOST_ID", Some("db1.example.com")),
            varchar("HOST_NW_ADDR", Some("10.0.0.5")),
            varchar("MODULE_ID", Some("MMON_SLAVE")),
            varchar("PROCESS_ID", Some("4562")),
            varchar("USER_ID", Some("SYS")),
            varchar("UPSTREAM_COMPONENT_ID", None),
            varchar("DOWNSTREAM_COMPONENT_ID", None),
            varchar("EXECUTION_CONTEXT_ID", Some("ec-1")),
            varchar("ERROR_INSTANCE_ID", None),
            number("REASON_ARGUMENT_COUNT", Some("2")),
            varchar("REASON_ARGUMENT_1", Some("USERS")),
            varchar("REASON_ARGUMENT_2", Some("91")),
            varchar("REASON_ARGUMENT_3", None),
            varchar("REASON_ARGUMENT_4", None),
            varchar("REASON_ARGUMENT_5", None),
            number("SEQUENCE_ID", Some(sequence_id)),
            number("REASON_ID", Some("9")),
            varchar("OBJECT_OWNER", None),
            varchar("OBJECT_NAME", Some("USERS")),
            varchar("SUBOBJECT_NAME", None),
            varchar("OBJECT_TYPE", Some("TABLESPACE")),
            varchar("INSTANCE_NAME", Some("PROD1")),
            number("INSTANCE_NUMBER", Some("1")),
            varchar("SCOPE", Some("DATABASE")),
            varchar("ADVISOR_NAME", Some("Segment Advisor")),
            number("METRIC_VALUE", Some("91.27")),
            number("SUGGESTED_ACTION_MSG_ID", Some("2")),
            number("ACTION_ARGUMENT_COUNT", Some("0")),
            varchar("ACTION_ARGUMENT_1", None),
            varchar("ACTION_ARGUMENT_2", None),
            varchar("ACTION_ARGUMENT_3", None),
            varchar("ACTION_ARGUMENT_4", None),
            varchar("ACTION_ARGUMENT_5", None),
        ]
    }

    #[test]
    fn alert_type_maps_to_labels_and_identity() {
        let alert = server_alert(&alert_type(Some("5"), "1201"));
        assert!(alert.warnings.is_empty(), "{:?}", alert.warnings);
        assert_eq!(alert.level, Some(5));
        assert_eq!(alert.sequence_id.as_deref(), Some("1201"));
        let labels: Vec<(&str, &str)> = alert
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        assert_eq!(
            labels,
            [
                ("advisor_name", "Segment Advisor"),
                ("host", "db1.example.com"),
                ("instance", "PROD1"),
                ("instance_number", "1"),
                ("message_group", "Space"),
                ("message_level", "5"),
                ("metric_value", "91.27"),
                ("object_name", "USERS"),
                ("object_type", "TABLESPACE"),
                ("owner", "SYS"),
                ("pdb", "APP1"),
                ("reason_id", "9"),
                ("severity", "warning"),
            ]
        );
        let identity: Vec<(&str, &str)> = alert
            .identity
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            identity,
            [
                ("reason_id", "9"),
                ("owner", "SYS"),
                ("object_type", "TABLESPACE"),
                ("object_name", "USERS"),
                ("subobject_name", ""),
                ("instance", "PROD1"),
                ("pdb", "APP1"),
            ]
        );
        let critical = server_alert(&alert_type(Some("1"), "1202"));
        assert_eq!(critical.labels["severity"], "critical");
        // The same alert raised again (another sequence id, another metric value) and its
        // clear share the identity, so the clear finds the firing alert.
        let clear = server_alert(&alert_type(Some("32"), "1203"));
        assert_eq!(critical.identity, alert.identity);
        assert_eq!(clear.identity, alert.identity);
        assert!(clear.is_clear() && !alert.is_clear());
    }

    /// Read in CDB$ROOT, ALERT_QUE carries the alerts of every PDB: the USERS tablespaces of
    /// two PDBs are two alerts, and each clear resolves its own.
    #[test]
    fn the_pdb_is_a_label_and_part_of_the_identity() {
        let in_pdb = |pdb: Option<&str>, level: &str| {
            let mut attributes = alert_type_11g(Some(level), "1201");
            attributes.push(varchar("PDB_NAME", pdb));
            server_alert(&attributes)
        };
        let app1 = in_pdb(Some("APP1"), "5");
        let app2 = in_pdb(Some("APP2"), "5");
        assert_eq!(app1.labels["pdb"], "APP1");
        assert_eq!(app2.labels["pdb"], "APP2");
        assert_ne!(app1.identity, app2.identity);
        assert_eq!(in_pdb(Some("APP1"), "32").identity, app1.identity);
        assert_ne!(in_pdb(Some("APP2"), "32").identity, app1.identity);
        let message = app2.into_message(&envelope(), None);
        assert!(
            message
                .identity
                .contains(&("pdb".to_owned(), "APP2".to_owned()))
        );

        // 11g's 41 attributes, or a NULL PDB_NAME: the identity has no pdb, as before.
        let old = server_alert(&alert_type_11g(Some("5"), "1201"));
        assert!(!old.labels.contains_key("pdb"));
        assert_eq!(old.identity.len(), 6);
        assert_eq!(in_pdb(None, "5").identity, old.identity);
        assert_eq!(in_pdb(Some(" "), "5").identity, old.identity);
    }

    #[test]
    fn levels_and_reasons_decide_fire_resolve_or_event() {
        let outstanding = Reason {
            reason: Some("Tablespace [USERS] is [91 percent] full".into()),
            suggested_action: Some("Add space to the tablespace".into()),
            resolution: Some("outstanding".into()),
        };
        let stateless = Reason {
            reason: Some("Snapshot too old for SQL ID [abc]".into()),
            suggested_action: None,
            resolution: Some("N/A".into()),
        };
        // (level, reason row, effect, summary)
        let cases = [
            (
                Some("5"),
                Some(&outstanding),
                Effect::Fire,
                "Tablespace [USERS] is [91 percent] full",
            ),
            (
                Some("1"),
                None,
                Effect::Fire,
                "Server alert (reason 9) on TABLESPACE SYS.USERS",
            ),
            (
                Some("32"),
                None,
                Effect::Resolve,
                "Server alert (reason 9) on TABLESPACE SYS.USERS",
            ),
            (
                Some("5"),
                Some(&stateless),
                Effect::Event,
                "Snapshot too old for SQL ID [abc]",
            ),
            (
                None,
                None,
                Effect::Fire,
                "Server alert (reason 9) on TABLESPACE SYS.USERS",
            ),
        ];
        for (level, reason, effect, summary) in cases {
            let message =
                server_alert(&alert_type(level, "1201")).into_message(&envelope(), reason);
            assert_eq!(message.effect, effect, "{level:?}");
            let Value::Json(Json::Object(map)) = &message.payload else {
                panic!()
            };
            assert_eq!(map["summary"], summary, "{level:?}");
            assert_eq!(
                map.get("description").and_then(Json::as_str),
                reason.and_then(|r| r.suggested_action.as_deref())
            );
            assert_eq!(
                message.identity.iter().any(|(k, _)| k == "sequence_id"),
                effect == Effect::Event,
                "a stateless alert is one event per raise"
            );
            assert_eq!(message.warnings.is_empty(), level.is_some());
        }
    }

    #[test]
    fn a_malformed_alert_type_is_still_an_alert_with_warnings() {
        let attributes = [
            varchar("MESSAGE_LEVEL", Some("five")),
            Attribute {
                name: "REASON_ID".into(),
                oracle_type: OracleType::RefCursor,
                text: Ok(None),
            },
        ];
        let alert = server_alert(&attributes);
        assert_eq!(alert.level, None);
        assert_eq!(
            alert.warnings,
            [
                "attribute REASON_ID has type REF CURSOR, which dbalert does not read; left out",
                "MESSAGE_LEVEL is missing or not a number; taken as a warning",
            ]
        );
        let message = alert.into_message(&envelope(), None);
        assert_eq!(message.effect, Effect::Fire);
        assert_eq!(message.warnings.len(), 2);
    }
}
