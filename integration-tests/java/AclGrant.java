import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Grants ACLs through the Admin API, all in one request.
 *
 * Usage: AclGrant <bootstrap> <type>:<prefix>:<principal>[,<principal>...][:<operation>,...] ...
 * where type is TOPIC, GROUP or TRANSACTIONAL_ID; each principal (User:<name>) may do the
 * operations (every operation when none are given) on the resources of that type whose names
 * begin with prefix.
 */
public class AclGrant {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        List<AclBinding> acls = new ArrayList<>();
        for (int i = 1; i < args.length; i++) {
            String[] spec = args[i].split(":", 4);
            String[] operations = spec.length > 3 ? spec[3].split(",") : new String[] {"ALL"};
            ResourcePattern pattern =
                new ResourcePattern(ResourceType.valueOf(spec[0]), spec[1], PatternType.PREFIXED);
            for (String user : spec[2].split(",")) {
                for (String operation : operations) {
                    acls.add(new AclBinding(pattern, new AccessControlEntry(
                        "User:" + user, "*", AclOperation.valueOf(operation),
                        AclPermissionType.ALLOW)));
                }
            }
        }
        try (Admin admin = Admin.create(props)) {
            admin.createAcls(acls).all().get();
        }
        System.out.println("granted " + acls.size());
    }
}
