//! A real OpenLDAP server per test: `Slapd::start()` builds a cn=config directory from
//! `tests/fixtures/ldap/slapd-config.ldif` in a temp dir (mdb database for
//! `dc=example,dc=com`, memberof and syncprov overlays, the AD test schema), runs `slapd` on
//! a free loopback port and kills it when dropped. Needs the Debian packages `slapd` and
//! `ldap-utils`.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BASE_DN: &str = "dc=example,dc=com";
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=com";
pub const ADMIN_PASSWORD: &str = "secret";
const CONFIG_ADMIN_DN: &str = "cn=admin,cn=config";
/// Paged searches unlimited, plain searches cut at 1,000 entries.
pub const DEFAULT_SIZE_LIMIT: &str =
    "size.soft=1000 size.hard=unlimited size.pr=unlimited size.prtotal=unlimited";

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap")
}

/// A program from the slapd/ldap-utils packages.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found: install OpenLDAP with \
                 `DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils`"
            )
        })
}

/// TLS material made for one server: a CA and a certificate for 127.0.0.1 / localhost.
pub struct Tls {
    pub ca_file: PathBuf,
    pub ldaps_port: u16,
}

pub struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    tls: Option<Tls>,
    child: Option<Child>,
}

impl Slapd {
    /// A server with an empty `dc=example,dc=com` database.
    pub fn start() -> Slapd {
        Slapd::start_with(DEFAULT_SIZE_LIMIT, false)
    }

    /// A server whose database has `olcSizeLimit: size_limit`.
    pub fn with_size_limit(size_limit: &str) -> Slapd {
        Slapd::start_with(size_limit, false)
    }

    /// A server that also listens for ldaps and offers StartTLS, with a certificate from a
    /// CA of its own (see `tls()`).
    pub fn with_tls() -> Slapd {
        Slapd::start_with(DEFAULT_SIZE_LIMIT, true)
    }

    fn start_with(size_limit: &str, tls: bool) -> Slapd {
        let dir = tempfile::Builder::new()
            .prefix("rollcall-slapd-")
            .tempdir()
            .expect("temp dir");
        let conf = dir.path().join("slapd.d");
        std::fs::create_dir_all(&conf).expect("config dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let template =
            std::fs::read_to_string(fixtures().join("slapd-config.ldif")).expect("config template");
        let mut config = template
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@FIXTURES@", &fixtures().display().to_string())
            .replace("@SIZELIMIT@", size_limit);
        let tls = tls.then(|| {
            let ca_file = make_certificates(dir.path());
            let d = dir.path().display();
            config = config.replacen(
                "olcArgsFile:",
                &format!(
                    "olcTLSCACertificateFile: {d}/ca.pem\nolcTLSCertificateFile: {d}/server.pem\n\
                     olcTLSCertificateKeyFile: {d}/server.key\nolcArgsFile:"
                ),
                1,
            );
            Tls {
                ca_file,
                ldaps_port: free_port(),
            }
        });
        let config_path = dir.path().join("config.ldif");
        std::fs::write(&config_path, config).expect("write config.ldif");
        run(Command::new(tool("slapadd"))
            .args(["-n0", "-F"])
            .arg(&conf)
            .arg("-l")
            .arg(&config_path));
        let mut slapd = Slapd {
            dir,
            port: free_port(),
            tls,
            child: None,
        };
        slapd.start_again();
        slapd
    }

    /// `ldap://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}/", self.port)
    }

    /// The ldaps URL and CA of a server started `with_tls()`.
    pub fn tls(&self) -> &Tls {
        self.tls.as_ref().expect("server started without TLS")
    }

    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}/", self.tls().ldaps_port)
    }

    /// Adds the entries in `ldif` as the database's root DN.
    pub fn add_ldif(&self, ldif: &str) {
        self.ldap_tool("ldapadd", ADMIN_DN, ldif);
    }

    /// Applies the changes in `ldif` (with `changetype:` lines) as the database's root DN.
    pub fn modify_ldif(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", ADMIN_DN, ldif);
    }

    /// Applies changes to the running server's cn=config.
    pub fn modify_config(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", CONFIG_ADMIN_DN, ldif);
    }

    fn ldap_tool(&self, name: &str, bind_dn: &str, ldif: &str) {
        let mut child = Command::new(tool(name))
            .args(["-x", "-H", &self.url(), "-D", bind_dn, "-w", ADMIN_PASSWORD])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(ldif.as_bytes())
            .expect("write LDIF");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Gives the root DSE the attributes of `ldif` (an entry with `dn:` empty), as Active
    /// Directory's `highestCommittedUSN` and `dsServiceName`. slapd reads the file when it
    /// starts, so the server is restarted.
    pub fn set_root_dse(&mut self, ldif: &str) {
        let file = self.dir.path().join("rootdse.ldif");
        let first = !file.exists();
        std::fs::write(&file, ldif).expect("write rootdse.ldif");
        if first {
            self.modify_config(&format!(
                "dn: cn=config\nchangetype: modify\nadd: olcRootDSE\nolcRootDSE: {}\n",
                file.display()
            ));
        }
        self.stop();
        self.start_again();
    }

    /// Stops the server (the data stays); the URL refuses connections until `start_again`.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the server again on the same port with the same data.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "slapd is already running");
        let mut urls = self.url();
        if let Some(tls) = &self.tls {
            urls = format!("{urls} ldaps://127.0.0.1:{}/", tls.ldaps_port);
        }
        let log = std::fs::File::create(self.dir.path().join("slapd.log")).expect("log file");
        let mut child = Command::new(tool("slapd"))
            .args(["-d", "0", "-h", &urls, "-F"])
            .arg(self.dir.path().join("slapd.d"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("spawn slapd");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("slapd exited ({status}): {}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "slapd did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
    }

    /// Replaces the database's content with `ldif` by `slapadd` (fast, but without overlays:
    /// `memberOf` must be in the LDIF).
    pub fn bulk_load(&mut self, ldif: &Path) {
        self.stop();
        run(Command::new(tool("slapadd"))
            .args(["-q", "-n1", "-F"])
            .arg(self.dir.path().join("slapd.d"))
            .arg("-l")
            .arg(ldif));
        self.start_again();
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("slapd.log")).unwrap_or_default()
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 and localhost signed by it
/// (`server.pem`, `server.key`) in `dir`; returns the CA's path.
pub(crate) fn make_certificates(dir: &Path) -> PathBuf {
    let openssl = tool("openssl");
    let p = |name: &str| dir.join(name);
    run(Command::new(&openssl)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=Rollcall test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(p("ca.key"))
        .arg("-out")
        .arg(p("ca.pem")));
    run(Command::new(&openssl)
        .args([
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(p("server.key"))
        .arg("-out")
        .arg(p("server.csr")));
    std::fs::write(
        p("server.ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .expect("write extensions");
    run(Command::new(&openssl)
        .args(["x509", "-req", "-days", "2", "-CAcreateserial"])
        .arg("-in")
        .arg(p("server.csr"))
        .arg("-CA")
        .arg(p("ca.pem"))
        .arg("-CAkey")
        .arg(p("ca.key"))
        .arg("-extfile")
        .arg(p("server.ext"))
        .arg("-out")
        .arg(p("server.pem")));
    p("ca.pem")
}
