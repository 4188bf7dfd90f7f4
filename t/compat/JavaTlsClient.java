/*
 * JavaTlsClient.java - a TLS 1.3 client on Java's own TLS stack (JSSE, not
 * OpenSSL), for t/tls_clients.t. Run as `java JavaTlsClient.java PORT CAFILE`.
 *
 * For each TLS 1.3 suite: connect, verify the server against CAFILE, store
 * and read back a 200,000-byte value, then `version`. The key limits are set
 * to 64 KB, so JSSE sends KeyUpdate messages in the middle of the value and
 * the server must answer them and switch keys in both directions. Prints one
 * line per suite: "<protocol> <suite> ok" or "... BAD <what>".
 */
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.Security;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class JavaTlsClient {
    private static final String[] SUITES = {
        "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"};

    public static void main(String[] args) throws Exception {
        /* Must be set before the first TLS object exists. */
        Security.setProperty("jdk.tls.keyLimits",
            "AES/GCM/NoPadding KeyUpdate 2^16, ChaCha20-Poly1305 KeyUpdate 2^16");
        int port = Integer.parseInt(args[0]);
        SSLContext ctx = context(args[1]);
        StringBuilder big = new StringBuilder();
        for (int i = 0; i < 200000; i++) {
            big.append((char) ('a' + i % 26));
        }
        String want = "STORED\r\nVALUE j 0 200000\r\n" + big + "\r\nEND\r\nVERSION ";
        for (String suite : SUITES) {
            try (SSLSocket s = (SSLSocket) ctx.getSocketFactory().createSocket("127.0.0.1", port)) {
                s.setEnabledProtocols(new String[] {"TLSv1.3"});
                s.setEnabledCipherSuites(new String[] {suite});
                s.setSoTimeout(10000);
                s.startHandshake();
                OutputStream out = s.getOutputStream();
                out.write(("set j 0 0 200000\r\n" + big + "\r\nget j\r\nversion\r\n")
                              .getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String got = readUntilVersion(s.getInputStream());
                String verdict = got.startsWith(want) ? "ok" : "BAD reply of " + got.length() + " bytes";
                System.out.println(s.getSession().getProtocol() + " " + s.getSession().getCipherSuite()
                    + " " + verdict);
            } catch (Exception e) {
                System.out.println("TLSv1.3 " + suite + " BAD " + e);
            }
        }
    }

    private static SSLContext context(String caFile) throws Exception {
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (FileInputStream f = new FileInputStream(caFile)) {
            X509Certificate ca = (X509Certificate) CertificateFactory.getInstance("X.509")
                                     .generateCertificate(f);
            ks.setCertificateEntry("ca", ca);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLSv1.3");
        ctx.init(null, tmf.getTrustManagers(), null);
        return ctx;
    }

    private static String readUntilVersion(InputStream in) throws Exception {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[65536];
        while (!got.toString(StandardCharsets.US_ASCII).contains("VERSION ")) {
            int n = in.read(buf);
            if (n < 0) {
                break;
            }
            got.write(buf, 0, n);
        }
        return got.toString(StandardCharsets.US_ASCII);
    }
}
