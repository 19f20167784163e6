//! Kafka's `sasl.jaas.config` value: one login module entry,
//! `<class> <flag> key="value" ... ;`. Brook reads it for the PLAIN users
//! of a listener (`user_<name>="<password>"`) and for a client's
//! `username`/`password`.

use std::collections::BTreeMap;

use super::SaslError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JaasConfig {
    pub login_module: String,
    /// `required`, `requisite`, `sufficient` or `optional`.
    pub control_flag: String,
    pub options: BTreeMap<String, String>,
}

impl JaasConfig {
    pub fn parse(text: &str) -> Result<JaasConfig, SaslError> {
        let bad = |why: &str| SaslError::new(format!("invalid JAAS config: {why}"));
        let mut tokens = tokenize(text).map_err(|e| bad(&e))?.into_iter();
        let login_module = match tokens.next() {
            Some(Token::Word(w)) => w,
            _ => return Err(bad("expected a login module class")),
        };
        let control_flag = match tokens.next() {
            Some(Token::Word(w)) if ["required", "requisite", "sufficient", "optional"].contains(&w.as_str()) => w,
            _ => return Err(bad("expected a control flag (required, requisite, sufficient, optional)")),
        };
        let mut options = BTreeMap::new();
        loop {
            match tokens.next() {
                Some(Token::End) => break,
                Some(Token::Word(key)) => {
                    let (Some(Token::Equals), Some(Token::Word(value) | Token::Quoted(value))) =
                        (tokens.next(), tokens.next())
                    else {
                        return Err(bad(&format!("expected {key}=\"value\"")));
                    };
                    options.insert(key, value);
                }
                _ => return Err(bad("expected key=\"value\" pairs ending with ';'")),
            }
        }
        if tokens.next().is_some() {
            return Err(bad("only one login module entry is allowed"));
        }
        Ok(JaasConfig { login_module, control_flag, options })
    }

    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// PlainLoginModule's users: `user_<name>="<password>"`.
    pub fn plain_users(&self) -> BTreeMap<String, String> {
        self.options
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("user_").map(|name| (name.to_string(), v.clone())))
            .collect()
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Equals,
    End,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Equals);
            }
            ';' => {
                chars.next();
                out.push(Token::End);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("unterminated quoted value".into()),
                        Some('"') => break,
                        Some('\\') => s.push(chars.next().ok_or("unterminated quoted value")?),
                        Some(c) => s.push(c),
                    }
                }
                out.push(Token::Quoted(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || c == '=' || c == ';' || c == '"' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                out.push(Token::Word(s));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_plain_login_module() {
        let c = JaasConfig::parse(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="admin-secret" user_admin="admin-secret" user_alice="alice-secret";"#,
        )
        .unwrap();
        assert_eq!(c.login_module, "org.apache.kafka.common.security.plain.PlainLoginModule");
        assert_eq!(c.option("username"), Some("admin"));
        assert_eq!(c.option("password"), Some("admin-secret"));
        let users = c.plain_users();
        assert_eq!(users.len(), 2);
        assert_eq!(users["alice"], "alice-secret");
    }

    #[test]
    fn quoting_and_errors() {
        let c = JaasConfig::parse(r#"x.Scram required username=bob password="a \"q\" ;=";"#).unwrap();
        assert_eq!(c.option("username"), Some("bob"));
        assert_eq!(c.option("password"), Some(r#"a "q" ;="#));
        for bad in [
            "",
            "x.Module",
            "x.Module required",
            "x.Module maybe a=\"b\";",
            "x.Module required a=;",
            "x.Module required a \"b\";",
            "x.Module required a=\"b;",
            "x.Module required; y.Other required;",
        ] {
            assert!(JaasConfig::parse(bad).is_err(), "{bad}");
        }
    }
}
